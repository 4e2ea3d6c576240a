package maelstrom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Defaults of a server.
const (
	// leaseTTL is each master's session lease: etcd's minimum, since
	// failover here is a revoke, not a missed heartbeat.
	leaseTTL = 2 * time.Second
	// failoverTimeout bounds the wait for a new primary after a revoke,
	// and then for the failed master to campaign again.
	failoverTimeout = 4 * time.Second
	// startTimeout bounds etcd's start and each master's first step.
	startTimeout = 10 * time.Second
	// stopTimeout bounds the wait for the masters to stop, and then for
	// etcd to stop, when the node exits.
	stopTimeout = 2 * time.Second
	// maxMasters bounds init's node_ids.
	maxMasters = 9
)

// server answers requests one at a time, in order; it is not safe for
// concurrent use.
type server struct {
	out io.Writer
	log *slog.Logger

	leaseTTL        time.Duration
	failoverTimeout time.Duration
	startTimeout    time.Duration
	stopTimeout     time.Duration

	nodeID  string   // "" until init succeeds
	masters []string // init's node_ids
	group   *group
	nextID  int64 // msg_id of the next reply
}

func newServer(out io.Writer, log *slog.Logger) *server {
	return &server{
		out: out, log: log,
		leaseTTL: leaseTTL, failoverTimeout: failoverTimeout,
		startTimeout: startTimeout, stopTimeout: stopTimeout,
	}
}

// handleLine answers one input line. It returns an error only when a reply
// could not be written.
func (s *server) handleLine(ctx context.Context, line []byte) error {
	req, skip, bad := parseLine(line)
	switch {
	case errors.Is(skip, errEmptyLine):
		return nil
	case skip != nil:
		s.log.Warn("skipping input line", "why", skip.Error(), "line", truncate(bytes.TrimSpace(line), 200))
		return nil
	case bad != nil:
		return s.replyError(req, bad)
	}
	if req.typ != "init" && s.group == nil {
		return s.replyError(req, &replyError{Code: CodeNotInitialized,
			Text: fmt.Sprintf("%s before init: send init with node_id and node_ids first", req.typ)})
	}
	var fields []Field
	var typ string
	var rerr *replyError
	switch req.typ {
	case "init":
		typ, rerr = "init_ok", s.initialize(ctx, req)
	case "shadow_status":
		typ = "shadow_status_ok"
		fields, rerr = s.shadowStatus(ctx)
	case "trigger_failover":
		typ = "trigger_failover_ok"
		fields, rerr = s.triggerFailover(ctx, req)
	default:
		rerr = &replyError{Code: CodeNotSupported,
			Text: fmt.Sprintf("unknown message type %q; this node answers init, shadow_status and trigger_failover", req.typ)}
	}
	if rerr != nil {
		return s.replyError(req, rerr)
	}
	return s.reply(req, typ, fields...)
}

// initialize starts the masters. A repeated init naming the same node and
// masters is answered init_ok again without restarting anything; one that
// differs is malformed (the masters cannot be re-cast while running).
func (s *server) initialize(ctx context.Context, req request) *replyError {
	id, rerr := req.str("node_id")
	if rerr != nil {
		return rerr
	}
	ids, rerr := req.strs("node_ids")
	if rerr != nil {
		return rerr
	}
	if id == "" {
		return malformed("init: node_id is empty; name this node, e.g. \"n1\"")
	}
	if len(ids) == 0 || len(ids) > maxMasters {
		return malformed("init: node_ids names %d masters; name 1 to %d, the first starts as primary", len(ids), maxMasters)
	}
	for i, m := range ids {
		if m == "" {
			return malformed("init: node_ids[%d] is empty; every master needs a name", i)
		}
		if slices.Index(ids, m) != i {
			return malformed("init: node_ids names %q twice; every master needs its own name", m)
		}
	}
	if s.group != nil {
		if id == s.nodeID && slices.Equal(ids, s.masters) {
			return nil
		}
		return malformed("init: already initialized as %s with masters %s; a different init needs a new process",
			s.nodeID, strings.Join(s.masters, ", "))
	}
	g, err := startGroup(ctx, groupConfig{
		IDs: ids, LeaseTTL: s.leaseTTL, StartTimeout: s.startTimeout, StopTimeout: s.stopTimeout, Logger: s.log,
	})
	if err != nil {
		return internal(err)
	}
	s.group, s.nodeID, s.masters = g, id, ids
	return nil
}

func (s *server) shadowStatus(ctx context.Context) ([]Field, *replyError) {
	st, err := s.group.status(ctx)
	if err != nil {
		return nil, internal(err)
	}
	return []Field{
		{"primary", st.Primary},
		{"shadow", st.Shadow},
		{"wal_lag_entries", st.WALLagEntries},
		{"wal_lag_ms", millis(st.WALLagMs)},
	}, nil
}

func (s *server) triggerFailover(ctx context.Context, req request) ([]Field, *replyError) {
	failed, rerr := req.str("failed_master")
	if rerr != nil {
		return nil, rerr
	}
	if s.group.byID(failed) == nil {
		return nil, malformed("trigger_failover: failed_master %q is not one of the masters (%s)",
			failed, strings.Join(s.masters, ", "))
	}
	res, err := s.group.failover(ctx, failed, s.failoverTimeout)
	if err != nil {
		return nil, internal(err)
	}
	return []Field{
		{"new_primary", res.NewPrimary},
		{"wal_entries_replayed", res.WALEntriesReplayed},
		{"failover_time_ms", millis(res.FailoverTimeMs)},
	}, nil
}

// reply writes one reply: src, dest, body; in body type, in_reply_to,
// msg_id, then fields.
func (s *server) reply(req request, typ string, fields ...Field) error {
	src := s.nodeID
	if src == "" {
		src = req.dest // before init, answer as whom the request was sent to
	}
	var inReplyTo any // null when the request had no valid msg_id
	if req.msgID != nil {
		inReplyTo = *req.msgID
	}
	body := append(Object{{"type", typ}, {"in_reply_to", inReplyTo}, {"msg_id", s.nextID}}, fields...)
	line, err := Marshal(Object{{"src", src}, {"dest", req.src}, {"body", body}})
	if err != nil {
		// Only a bug can get here (a NaN figure); say so rather than go silent.
		s.log.Error("cannot encode reply", "type", typ, "err", err)
		body = Object{{"type", "error"}, {"in_reply_to", inReplyTo}, {"msg_id", s.nextID},
			{"code", CodeInternal}, {"text", "cannot encode reply: " + err.Error()}}
		line, _ = Marshal(Object{{"src", src}, {"dest", req.src}, {"body", body}})
	}
	s.nextID++
	if _, err := s.out.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("maelstrom: write reply: %w", err)
	}
	return nil
}

func (s *server) replyError(req request, e *replyError) error {
	s.log.Info("error reply", "type", req.typ, "code", e.Code, "text", e.Text)
	return s.reply(req, "error", Field{"code", e.Code}, Field{"text", e.Text})
}

// close stops the masters and etcd.
func (s *server) close() {
	if s.group != nil {
		s.group.close()
	}
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
