package node

import (
	"time"

	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/meta"
)

// The primary's lease. Everything this node does as primary without an
// etcd round trip (answering a read from memory, answering a chunkserver's
// heartbeat, commanding a chunkserver, /primary) relies on its election
// lease still being held, and goes through the three methods below, which
// use the election's validity (counted from the send time of a renewal etcd
// answered, see package election):
//
//   - Serving: may this node act as primary right now?
//   - ServingUntil: until when may it; a message sent under the lease
//     carries this as its deadline, so that it cannot act after the lease.
//   - Read: run a read against the state and keep its answer only if the
//     lease still held once the read was done (checked before and after).
//
// Writes are not covered here: they carry the fence, which etcd checks.

// leadership is the current leadership once the promotion gate opened, and
// the end of its certain validity; nil when this node does not serve or the
// validity has run out.
func (n *Node) leadership() (*election.Leadership, time.Time) {
	n.mu.Lock()
	l := n.lead
	n.mu.Unlock()
	if l == nil {
		return nil, time.Time{}
	}
	until := l.ValidUntil()
	if !time.Now().Before(until) {
		return nil, time.Time{}
	}
	return l, until
}

// Serving reports whether this node is the primary and its lease certainly
// holds now.
func (n *Node) Serving() bool {
	l, _ := n.leadership()
	return l != nil
}

// ServingUntil is the monotonic instant until which this node certainly
// holds its lease as primary; the zero time when it does not serve. An
// action taken as primary without an etcd round trip must be complete by
// then: a command sent to a chunkserver carries it as its deadline.
func (n *Node) ServingUntil() time.Time {
	_, until := n.leadership()
	return until
}

// stillServing reports whether l is still this node's leadership and its
// lease still certainly holds.
func (n *Node) stillServing(l *election.Leadership) bool {
	cur, _ := n.leadership()
	return cur != nil && cur == l
}

// Read runs fn against the state only while this node is a valid primary:
// the lease must hold when fn starts and still hold once it returned, or
// the result is refused with ErrNotPrimary (fn's effects on the caller's
// variables must then be discarded). A read that straddles the lease's end
// could otherwise answer from a state that a new primary has already
// overtaken.
func (n *Node) Read(fn func(*meta.State) error) error {
	l, _ := n.leadership()
	if l == nil {
		return n.notPrimary()
	}
	err := fn(n.state)
	if !n.stillServing(l) {
		return n.notPrimary()
	}
	return err
}
