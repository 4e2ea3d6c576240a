package node

import (
	"errors"
	"fmt"
)

// Sentinel errors.
var (
	// ErrNotPrimary: this node does not serve; the request was not applied.
	ErrNotPrimary = errors.New("master: not primary")
	// ErrUnknownOutcome: the mutation may or may not have been applied; retry
	// it with the same client id and sequence to find out.
	ErrUnknownOutcome = errors.New("master: outcome unknown")
	// ErrOverloaded: the primary's append queue stayed full; the mutation
	// was not applied. Retry with backoff.
	ErrOverloaded = errors.New("master: overloaded")
	// ErrReplay: replay stopped on a broken log; the node will not serve.
	ErrReplay = errors.New("master: replay stopped")
)

// NotPrimaryError names the primary, when one is known.
type NotPrimaryError struct {
	NodeID  string // empty when no primary is known
	Address string
	Reason  string // e.g. "catching up", "standby"
}

func (e *NotPrimaryError) Error() string {
	s := "master: not primary"
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.NodeID != "" {
		return fmt.Sprintf("%s; primary is %s at %s", s, e.NodeID, e.Address)
	}
	return s + "; no primary known yet, retry shortly"
}

// Unwrap makes errors.Is(err, ErrNotPrimary) hold.
func (e *NotPrimaryError) Unwrap() error { return ErrNotPrimary }
