package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
)

// confirmer proves leadership to readers with one linearizable etcd read
// shared by every reader that arrived before it started.
type confirmer struct {
	mu      sync.Mutex // guards waiting and running
	waiting []chan error
	running bool
}

// ReadConfirmed runs fn like Read, after confirming in etcd that this
// node's leader key still exists: a read that arrives after a new primary
// acknowledged a write can then never be answered from this node's older
// state, even in the moment before its watch reports the revoke. The
// confirmation is shared by concurrent readers.
func (n *Node) ReadConfirmed(ctx context.Context, fn func(*meta.State) error) error {
	l, _ := n.leadership()
	if l == nil {
		return n.notPrimary()
	}
	ch := make(chan error, 1)
	c := &n.confirm
	c.mu.Lock()
	c.waiting = append(c.waiting, ch)
	if !c.running {
		c.running = true
		go n.confirmLoop(l.Key(), int64(l.Token()))
	}
	c.mu.Unlock()
	select {
	case err := <-ch:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	// Still the same leadership? (It could have ended while confirming.)
	if !n.stillServing(l) {
		return n.notPrimary()
	}
	err := fn(n.state)
	if !n.stillServing(l) {
		return n.notPrimary()
	}
	return err
}

// confirmLoop serves batches of waiting readers until none are left.
func (n *Node) confirmLoop(key string, token int64) {
	c := &n.confirm
	for {
		c.mu.Lock()
		batch := c.waiting
		c.waiting = nil
		if len(batch) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.CommitTimeoutOrDefault())
		r, err := n.cfg.Client.Get(ctx, key)
		cancel()
		switch {
		case err != nil:
			err = fmt.Errorf("%w: cannot confirm leadership: %v", ErrNotPrimary, err)
		case len(r.Kvs) == 0 || r.Kvs[0].CreateRevision != token:
			err = &NotPrimaryError{Reason: cluster.RoleStandby}
		}
		for _, ch := range batch {
			ch <- err
		}
	}
}
