package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

// Consistency is what a read may return (config key read.consistency).
type Consistency int

// The read consistencies.
const (
	// Linearizable: the member reads the log head from etcd after the read
	// arrived (one read shared by the reads waiting at that moment), applies
	// up to it, then answers. Every write acknowledged before the read began
	// has an index at or below that head.
	Linearizable Consistency = iota
	// Session: the member answers once it has applied the index the client
	// carries (the highest it has seen), with no etcd round trip.
	Session
	// Stale: the member answers at once from its state, stating its applied
	// index and lag; refused when the lag exceeds the read's MaxLag.
	Stale
)

// DefaultMaxLag is read.max_lag's default.
const DefaultMaxLag = 5 * time.Second

// String is the config spelling.
func (c Consistency) String() string {
	switch c {
	case Linearizable:
		return "linearizable"
	case Session:
		return "session"
	case Stale:
		return "stale"
	}
	return fmt.Sprintf("consistency(%d)", int(c))
}

// ParseConsistency parses read.consistency's value.
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "linearizable", "":
		return Linearizable, nil
	case "session":
		return Session, nil
	case "stale":
		return Stale, nil
	}
	return 0, fmt.Errorf("read consistency %q: use linearizable, session or stale", s)
}

// ReadOptions say what one read may return.
type ReadOptions struct {
	Consistency Consistency
	// MinIndex (session): answer only once this index is applied.
	MinIndex uint64
	// MaxLag (stale): refuse when this member's state may be older than
	// this (0: DefaultMaxLag).
	MaxLag time.Duration
}

// ReadInfo says who answered a read and how fresh the answer is.
type ReadInfo struct {
	ServedBy     string
	AppliedIndex uint64 // the state the answer was read from
	// Lag bounds how old that state may be: the time since this member
	// last knew (from a linearizable head read) that it had applied the
	// whole log. It is never smaller than the truth.
	Lag time.Duration
}

// readState is the read path's state in a Node; its zero value is ready.
type readState struct {
	heads   headReader
	applied applyWaiters
	// fresh is when (monoNow) the newest head read that this member has
	// applied up to was SENT: its state is at least that fresh. 0: never.
	fresh atomic.Int64
	// served counts reads answered, per consistency (metrics).
	served [3]atomic.Uint64
	// headReads counts linearizable reads of the log head sent to etcd.
	headReads atomic.Uint64
}

// monoBase anchors monoNow; time.Since uses the monotonic clock.
var monoBase = time.Now()

func monoNow() int64 { return int64(time.Since(monoBase)) + 1 }

// ReadAt runs fn against this member's state once it may answer with the
// consistency o asks for, whatever the member's role. It fails with an
// error wrapping ErrLagging when this member cannot answer in time (replay
// stopped, too far behind, etcd unreachable for a linearizable read): the
// client should try another member.
func (n *Node) ReadAt(ctx context.Context, o ReadOptions, fn func(*meta.State) error) (ReadInfo, error) {
	n.mu.Lock()
	replayErr := n.replayErr
	n.mu.Unlock()
	if replayErr != nil {
		return ReadInfo{}, fmt.Errorf("%w: replay stopped on %s: %v", ErrLagging, n.cfg.NodeID, replayErr)
	}
	rs := &n.reads
	start := time.Now()
	switch o.Consistency {
	case Linearizable:
		// Bound the whole wait, so a member that cannot catch up gives the
		// client time to try the next one.
		wctx, cancel := context.WithTimeout(ctx, n.readWait())
		defer cancel()
		h, err := n.readHead(wctx)
		if err != nil {
			return ReadInfo{}, err
		}
		if err := n.waitApplied(wctx, h.head); err != nil {
			return ReadInfo{}, err
		}
		rs.markFresh(h.sent)
	case Session:
		wctx, cancel := context.WithTimeout(ctx, n.readWait())
		defer cancel()
		if err := n.waitApplied(wctx, o.MinIndex); err != nil {
			return ReadInfo{}, err
		}
	case Stale:
		maxLag := o.MaxLag
		if maxLag <= 0 {
			maxLag = DefaultMaxLag
		}
		if lag := rs.lag(); lag > maxLag {
			return ReadInfo{}, fmt.Errorf("%w: %s may be %v behind, more than read.max_lag %v", ErrLagging, n.cfg.NodeID, lag.Round(time.Millisecond), maxLag)
		}
	default:
		return ReadInfo{}, fmt.Errorf("read consistency %v: use linearizable, session or stale", o.Consistency)
	}
	// The lag is taken before the state is read: the answer is at least
	// this fresh, and may be fresher.
	info := ReadInfo{ServedBy: n.cfg.NodeID, Lag: rs.lag()}
	info.AppliedIndex = n.state.AppliedIndex()
	if err := fn(n.state); err != nil {
		return info, err
	}
	rs.served[o.Consistency].Add(1)
	if m, ok := n.cfg.Metrics.(ReadMetrics); ok {
		m.ReadServed(o.Consistency.String(), time.Since(start))
	}
	return info, nil
}

// ReadMetrics, when Config.Metrics implements it, is told of every read
// answered and how long it waited for the head and the catch-up.
type ReadMetrics interface {
	ReadServed(consistency string, wait time.Duration)
}

// ReadsServed is how many reads this member answered with consistency c.
func (n *Node) ReadsServed(c Consistency) uint64 {
	if c < 0 || int(c) >= len(n.reads.served) {
		return 0
	}
	return n.reads.served[c].Load()
}

// HeadReads is how many linearizable reads of the log head this member
// sent to etcd (shared by the reads waiting at each moment).
func (n *Node) HeadReads() uint64 { return n.reads.headReads.Load() }

// readWait bounds a read's wait for the head and for catching up.
func (n *Node) readWait() time.Duration { return n.cfg.CommitTimeoutOrDefault() }

// lag is the time since this member last knew it was fully caught up.
func (rs *readState) lag() time.Duration {
	f := rs.fresh.Load()
	if f == 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(monoNow() - f)
}

func (rs *readState) markFresh(sent int64) {
	for {
		old := rs.fresh.Load()
		if sent <= old || rs.fresh.CompareAndSwap(old, sent) {
			return
		}
	}
}

// waitApplied blocks until index is applied, or fails with ErrLagging when
// ctx ends first.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	w := &n.reads.applied
	if n.state.AppliedIndex() >= index {
		return nil
	}
	w.waiting.Add(1)
	defer w.waiting.Add(-1)
	for {
		w.mu.Lock()
		if w.ch == nil {
			w.ch = make(chan struct{})
		}
		ch := w.ch
		w.mu.Unlock()
		applied := n.state.AppliedIndex()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s applied %d, not yet %d (%v)", ErrLagging, n.cfg.NodeID, applied, index, ctx.Err())
		}
	}
}

// applyWaiters wakes reads waiting for an index. Apply pays one atomic load
// while nobody waits.
type applyWaiters struct {
	waiting atomic.Int32
	mu      sync.Mutex    // guards ch
	ch      chan struct{} // closed and replaced on apply while anyone waits
}

// notify is called after every apply.
func (w *applyWaiters) notify() {
	if w.waiting.Load() == 0 {
		return
	}
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}

// headReader shares one linearizable read of the log head among every read
// that arrived before it was sent.
type headReader struct {
	mu      sync.Mutex // guards waiting and running
	waiting []chan headResult
	running bool
}

type headResult struct {
	head uint64
	sent int64 // monoNow when the read was sent
	err  error
}

// readHead returns the log head read from etcd after this call began.
func (n *Node) readHead(ctx context.Context) (headResult, error) {
	ch := make(chan headResult, 1)
	h := &n.reads.heads
	h.mu.Lock()
	h.waiting = append(h.waiting, ch)
	if !h.running {
		h.running = true
		go n.headLoop()
	}
	h.mu.Unlock()
	select {
	case r := <-ch:
		return r, r.err
	case <-ctx.Done():
		return headResult{}, fmt.Errorf("%w: %s could not read the log head in time (%v)", ErrLagging, n.cfg.NodeID, ctx.Err())
	}
}

// headLoop serves batches of waiting reads until none are left. Each batch
// is sent only after every read in it arrived.
func (n *Node) headLoop() {
	h := &n.reads.heads
	for {
		h.mu.Lock()
		batch := h.waiting
		h.waiting = nil
		if len(batch) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		r := headResult{sent: monoNow()}
		n.reads.headReads.Add(1)
		ctx, cancel := context.WithTimeout(context.Background(), n.readWait())
		head, err := walship.ReadHead(ctx, n.cfg.Client, n.cfg.Keys.WAL())
		cancel()
		if err != nil {
			r.err = fmt.Errorf("%w: %s cannot read the log head (etcd unreachable?): %v", ErrLagging, n.cfg.NodeID, err)
		}
		r.head = head
		for _, ch := range batch {
			ch <- r // buffered: never blocks
		}
	}
}

// keepFresh reads the head now and then while no linearizable read does,
// so that stale reads can state an honest lag when nothing is written.
func (n *Node) keepFresh(ctx context.Context) {
	const every = 500 * time.Millisecond
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.reads.lag() < every {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, n.readWait())
		h, err := n.readHead(rctx)
		if err == nil && n.waitApplied(rctx, h.head) == nil {
			n.reads.markFresh(h.sent)
		}
		cancel()
	}
}

// ErrLagging: this member cannot answer this read
// now; another member may.
var ErrLagging = errors.New("master: member cannot serve this read now")
