package maelstrom

import (
	"errors"
	"fmt"
)

// Error codes of the protocol's error body (Maelstrom's numbering).
const (
	// CodeNotSupported: the message type is unknown.
	CodeNotSupported = 10
	// CodeNotInitialized: a request other than init arrived before init.
	CodeNotInitialized = 11
	// CodeMalformed: a missing field, a field of the wrong type, an unknown
	// master named, or an init that conflicts with the first one.
	CodeMalformed = 12
	// CodeInternal: the request was well formed but could not be carried
	// out (etcd did not start, no standby took over in time, ...).
	CodeInternal = 13
)

// Sentinel errors.
var (
	// ErrUnsupported: Marshal was given a value it cannot write as JSON.
	ErrUnsupported = errors.New("maelstrom: unsupported value")
	// ErrNoPrimary: no master serves right now.
	ErrNoPrimary = errors.New("maelstrom: no master is serving")
	// ErrNoShadow: the primary was named as failed but no other master is
	// campaigning to take over; nothing was revoked.
	ErrNoShadow = errors.New("maelstrom: no shadow to take over")
	// ErrNoTakeover: the primary's lease was revoked but no other master
	// served within the failover timeout.
	ErrNoTakeover = errors.New("maelstrom: no master took over")
)

// replyError is an error reply: its code and human-readable text.
type replyError struct {
	Code int
	Text string
}

func (e *replyError) Error() string { return fmt.Sprintf("error %d: %s", e.Code, e.Text) }

func malformed(format string, args ...any) *replyError {
	return &replyError{Code: CodeMalformed, Text: fmt.Sprintf(format, args...)}
}

func internal(err error) *replyError {
	return &replyError{Code: CodeInternal, Text: err.Error()}
}
