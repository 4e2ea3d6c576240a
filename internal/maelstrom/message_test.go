package maelstrom

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		skip     error
		code     int    // 0: no error reply
		text     string // substring of the error text
		typ      string
		msgID    int64
		hasMsgID bool
	}{
		{name: "init", line: `{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}`,
			typ: "init", msgID: 1, hasMsgID: true},
		{name: "spaces around", line: "  {\"src\": \"c0\", \"body\": {\"type\": \"x\", \"msg_id\": -7}}\r\n",
			typ: "x", msgID: -7, hasMsgID: true},
		{name: "blank", line: " \n", skip: errEmptyLine},
		{name: "not JSON", line: `hello {`, skip: errNotJSON},
		{name: "two values", line: `{"src":"c0"} {}`, skip: errNotJSON},
		{name: "JSON array", line: `[1,2]`, skip: errNoSender},
		{name: "JSON number", line: `42`, skip: errNoSender},
		{name: "no src", line: `{"dest":"n1","body":{"type":"init","msg_id":1}}`, skip: errNoSender},
		{name: "src not a string", line: `{"src":7,"body":{"type":"init","msg_id":1}}`, skip: errNoSender},
		{name: "no body", line: `{"src":"c0","dest":"n1"}`, code: CodeMalformed, text: "missing field body"},
		{name: "body not an object", line: `{"src":"c0","body":[1]}`, code: CodeMalformed, text: "body: want a JSON object, got an array"},
		{name: "body null", line: `{"src":"c0","body":null}`, code: CodeMalformed, text: "got null"},
		{name: "no type", line: `{"src":"c0","body":{"msg_id":3}}`, code: CodeMalformed, text: "missing field type",
			msgID: 3, hasMsgID: true},
		{name: "type not a string", line: `{"src":"c0","body":{"type":5,"msg_id":3}}`, code: CodeMalformed,
			text: "type: want a string, got the number 5", msgID: 3, hasMsgID: true},
		{name: "no msg_id", line: `{"src":"c0","body":{"type":"shadow_status"}}`, code: CodeMalformed,
			text: "missing field msg_id", typ: "shadow_status"},
		{name: "msg_id a string", line: `{"src":"c0","body":{"type":"shadow_status","msg_id":"2"}}`, code: CodeMalformed,
			text: "msg_id: want an integer, got a string"},
		{name: "msg_id a fraction", line: `{"src":"c0","body":{"type":"shadow_status","msg_id":2.5}}`, code: CodeMalformed,
			text: "msg_id: want an integer, got the number 2.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, skip, bad := parseLine([]byte(tt.line))
			if !errors.Is(skip, tt.skip) || (tt.skip == nil) != (skip == nil) {
				t.Fatalf("parseLine(%q) skip = %v; want %v", tt.line, skip, tt.skip)
			}
			if tt.skip != nil {
				return
			}
			switch {
			case tt.code == 0 && bad != nil:
				t.Fatalf("parseLine(%q) = error %v; want none", tt.line, bad)
			case tt.code != 0 && (bad == nil || bad.Code != tt.code || !strings.Contains(bad.Text, tt.text)):
				t.Fatalf("parseLine(%q) = error %v; want code %d with %q", tt.line, bad, tt.code, tt.text)
			}
			if req.src != "c0" {
				t.Errorf("parseLine(%q) src = %q; want c0", tt.line, req.src)
			}
			if tt.typ != "" && req.typ != tt.typ {
				t.Errorf("parseLine(%q) type = %q; want %q", tt.line, req.typ, tt.typ)
			}
			if (req.msgID != nil) != tt.hasMsgID || (req.msgID != nil && *req.msgID != tt.msgID) {
				t.Errorf("parseLine(%q) msg_id = %v; want %d (present %v)", tt.line, req.msgID, tt.msgID, tt.hasMsgID)
			}
		})
	}
}

func TestRequestFields(t *testing.T) {
	req, _, bad := parseLine([]byte(`{"src":"c0","body":{"type":"init","msg_id":1,"s":"x","n":null,"i":3,` +
		`"a":["p","q"],"mixed":["p",2],"empty":[],"obj":{}}}`))
	if bad != nil {
		t.Fatal(bad)
	}
	if got, err := req.str("s"); err != nil || got != "x" {
		t.Errorf(`str("s") = %q, %v; want "x"`, got, err)
	}
	for name, want := range map[string]string{
		"missing": "init: missing field missing",
		"n":       "init: n: want a string, got null",
		"i":       "init: i: want a string, got the number 3",
	} {
		if _, err := req.str(name); err == nil || err.Code != CodeMalformed || err.Text != want {
			t.Errorf("str(%q) error = %v; want code 12 %q", name, err, want)
		}
	}
	if got, err := req.strs("a"); err != nil || strings.Join(got, ",") != "p,q" {
		t.Errorf(`strs("a") = %q, %v; want [p q]`, got, err)
	}
	if got, err := req.strs("empty"); err != nil || len(got) != 0 {
		t.Errorf(`strs("empty") = %q, %v; want []`, got, err)
	}
	for name, want := range map[string]string{
		"missing": "init: missing field missing",
		"n":       "init: n: want an array of strings, got null",
		"obj":     "init: obj: want an array of strings, got an object",
		"mixed":   "init: mixed[1]: want a string, got the number 2",
	} {
		if _, err := req.strs(name); err == nil || err.Code != CodeMalformed || err.Text != want {
			t.Errorf("strs(%q) error = %v; want code 12 %q", name, err, want)
		}
	}
}
