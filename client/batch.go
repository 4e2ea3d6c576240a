package client

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gfsha/master/api/masterpb"
)

// A Batch call carries at most maxBatch mutations and maxBatchBytes of
// them encoded: well under gRPC's default 4 MiB message limit, whatever the
// paths' lengths (a path may be 4 KiB).
const (
	maxBatch      = 2000
	maxBatchBytes = 1 << 20
)

// batcher sends concurrent mutations to the primary in Batch calls, one call
// in flight at a time: while it is out, new mutations queue for the next.
// The queue holds at most one attempt per busy lane (maxLanes).
type batcher struct {
	c *Client

	mu      sync.Mutex // guards pending
	pending []*attempt
	wake    chan struct{}
}

// Attempt states: queued until the batcher takes it into a call (sent) or
// its caller leaves first (abandoned, then never sent).
const (
	queued int32 = iota
	sent
	abandoned
)

type attempt struct {
	m     *masterpb.Mutation
	state atomic.Int32
	done  chan error // one gRPC status error, or nil
}

func newBatcher(c *Client) *batcher { return &batcher{c: c, wake: make(chan struct{}, 1)} }

// submit makes one attempt at m and returns its gRPC status, and whether
// the attempt was handed to a Batch call (so may have been applied).
func (b *batcher) submit(ctx context.Context, m *masterpb.Mutation) (error, bool) {
	a := &attempt{m: m, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, a)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-a.done:
		return err, true
	case <-ctx.Done():
		if a.state.CompareAndSwap(queued, abandoned) {
			return status.FromContextError(ctx.Err()).Err(), false
		}
		return status.FromContextError(ctx.Err()).Err(), true
	}
}

// take removes the next batch from the queue: attempts whose callers are
// still waiting, up to maxBatch of them and maxBatchBytes encoded.
func (b *batcher) take() []*attempt {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*attempt
	size, i := 0, 0
	for ; i < len(b.pending) && len(out) < maxBatch; i++ {
		a := b.pending[i]
		n := proto.Size(a.m) + 8 // the field tag and length of a repeated message
		if len(out) > 0 && size+n > maxBatchBytes {
			break
		}
		if !a.state.CompareAndSwap(queued, sent) {
			continue // its caller left: never send it
		}
		size += n
		out = append(out, a)
	}
	clear(b.pending[:i])
	b.pending = b.pending[i:]
	if len(b.pending) > 0 {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	} else {
		b.pending = nil
	}
	return out
}

func (b *batcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for {
				as := b.take()
				if len(as) == 0 {
					return
				}
				for _, a := range as {
					a.done <- status.Error(codes.Canceled, "client closed")
				}
			}
		case <-b.wake:
		}
		as := b.take()
		if len(as) > 0 {
			b.send(ctx, as)
		}
	}
}

// send makes one Batch call to the current primary. A leader change while
// it is out cancels it: its outcome is then unknown (Aborted), and the
// callers retry with the same sequence numbers.
func (b *batcher) send(ctx context.Context, as []*attempt) {
	fail := func(err error) {
		for _, a := range as {
			a.done <- err
		}
	}
	b.c.mu.Lock()
	leader, changed := b.c.leader, b.c.changed
	b.c.mu.Unlock()
	if leader.Address == "" {
		fail(status.Errorf(codes.Unavailable, "no master holds the election in cluster %q", b.c.cfg.Cluster))
		return
	}
	m, err := b.c.Conn(leader.Address)
	if err != nil {
		fail(status.Error(codes.Unavailable, err.Error()))
		return
	}
	req := &masterpb.BatchRequest{Mutations: make([]*masterpb.Mutation, len(as))}
	for i, a := range as {
		req.Mutations[i] = a.m
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sent := make(chan struct{})
	go func() {
		select {
		case <-changed:
			cancel()
		case <-sent:
		}
	}()
	resp, err := m.Batch(actx, req)
	close(sent)
	if err != nil {
		b.c.redial(leader.Address)
	}
	switch {
	case err != nil && actx.Err() != nil && ctx.Err() == nil:
		fail(status.Errorf(codes.Aborted, "primary changed or did not answer while %d mutations were in flight: %v", len(as), err))
	case err != nil:
		fail(err)
	case len(resp.Results) != len(as):
		fail(status.Errorf(codes.Aborted, "primary answered %d results for %d mutations", len(resp.Results), len(as)))
	default:
		for i, a := range as {
			r := resp.Results[i]
			if r.Code == 0 {
				b.c.See(r.Index) // session reads never go behind it
				a.done <- nil
			} else {
				a.done <- status.Error(codes.Code(r.Code), r.Message)
			}
		}
	}
}
