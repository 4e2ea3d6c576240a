package maelstrom

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// Why a line is skipped without a reply.
var (
	errNotJSON   = errors.New("not JSON")
	errNoSender  = errors.New("not a message: want a JSON object with a string \"src\" to reply to")
	errEmptyLine = errors.New("empty line")
)

// request is one parsed message.
type request struct {
	src, dest string
	typ       string
	msgID     *int64 // nil when absent or not an integer
	body      map[string]json.RawMessage
}

// parseLine reads one line. It returns skip for lines that get no reply
// (not JSON, no sender), and bad for messages that get an error reply
// (req then holds what could be read: src, dest, and msg_id when valid).
func parseLine(line []byte) (req request, skip error, bad *replyError) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return req, errEmptyLine, nil
	}
	if !json.Valid(line) {
		return req, errNotJSON, nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(line, &env); err != nil {
		return req, errNoSender, nil
	}
	src, ok := jsonString(env["src"])
	if !ok {
		return req, errNoSender, nil
	}
	req.src = src
	req.dest, _ = jsonString(env["dest"])

	raw, ok := env["body"]
	if !ok {
		return req, nil, malformed("missing field body")
	}
	if err := json.Unmarshal(raw, &req.body); err != nil || req.body == nil {
		return req, nil, malformed("body: want a JSON object, got %s", kind(raw))
	}
	if raw, ok := req.body["msg_id"]; ok {
		id, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		if err != nil {
			return req, nil, malformed("msg_id: want an integer, got %s", kind(raw))
		}
		req.msgID = &id
	}
	raw, ok = req.body["type"]
	if !ok {
		return req, nil, malformed("missing field type")
	}
	if req.typ, ok = jsonString(raw); !ok {
		return req, nil, malformed("type: want a string, got %s", kind(raw))
	}
	if req.msgID == nil {
		return req, nil, malformed("missing field msg_id (an integer that the reply's in_reply_to echoes)")
	}
	return req, nil, nil
}

// str returns the body's string field name.
func (r request) str(name string) (string, *replyError) {
	raw, ok := r.body[name]
	if !ok {
		return "", malformed("%s: missing field %s", r.typ, name)
	}
	s, ok := jsonString(raw)
	if !ok {
		return "", malformed("%s: %s: want a string, got %s", r.typ, name, kind(raw))
	}
	return s, nil
}

// strs returns the body's field name, an array of strings.
func (r request) strs(name string) ([]string, *replyError) {
	raw, ok := r.body[name]
	if !ok {
		return nil, malformed("%s: missing field %s", r.typ, name)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || elems == nil {
		return nil, malformed("%s: %s: want an array of strings, got %s", r.typ, name, kind(raw))
	}
	out := make([]string, 0, len(elems))
	for i, e := range elems {
		s, ok := jsonString(e)
		if !ok {
			return nil, malformed("%s: %s[%d]: want a string, got %s", r.typ, name, i, kind(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// jsonString decodes raw when it is a JSON string (and not null, which
// json.Unmarshal would accept silently).
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// kind names a JSON value's type for error texts.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "the number " + string(raw)
	}
}
