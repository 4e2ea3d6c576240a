package walship

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/fencing"
)

// Tailer replays the log into a state machine, following it by watch.
type Tailer struct {
	c    *clientv3.Client
	keys Keys
	sm   StateMachine
	now  func() time.Time

	mu          sync.Mutex // guards the fields below
	head        uint64     // last fenced index seen in etcd
	first       uint64     // first index still in the log, as last seen
	lastToken   fencing.Token
	behindSince time.Time     // when head first exceeded applied; zero when caught up
	changed     chan struct{} // closed and replaced on every apply or head change
	err         error         // why Run stopped for good
}

// NewTailer makes a tailer that resumes after sm.AppliedIndex().
func NewTailer(c *clientv3.Client, keys Keys, sm StateMachine) *Tailer {
	return &Tailer{c: c, keys: keys, sm: sm, now: time.Now, changed: make(chan struct{})}
}

// Status is a replay progress snapshot.
type Status struct {
	Applied    uint64
	Head       uint64
	LagEntries uint64
	Lag        time.Duration // since the oldest unapplied record was seen
	Token      fencing.Token // of the last applied record
}

// Status reports progress.
func (t *Tailer) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	applied := t.sm.AppliedIndex()
	s := Status{Applied: applied, Head: t.head, Token: t.lastToken}
	if t.head > applied {
		s.LagEntries = t.head - applied
		if !t.behindSince.IsZero() {
			s.Lag = t.now().Sub(t.behindSince)
		}
	}
	return s
}

// Err is why replay stopped for good (gap, corruption), or nil.
func (t *Tailer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// WaitApplied blocks until the state machine applied index, replay failed,
// or ctx ended.
func (t *Tailer) WaitApplied(ctx context.Context, index uint64) error {
	for {
		t.mu.Lock()
		ch, err := t.changed, t.err
		t.mu.Unlock()
		if t.sm.AppliedIndex() >= index {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SetLastToken seeds the token check after a restore.
func (t *Tailer) SetLastToken(tok fencing.Token) {
	t.mu.Lock()
	t.lastToken = tok
	t.mu.Unlock()
}

func (t *Tailer) notifyLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *Tailer) setHead(h uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h > t.head {
		t.head = h
	}
	t.trackLagLocked()
	t.notifyLocked()
}

func (t *Tailer) trackLagLocked() {
	applied := t.sm.AppliedIndex()
	switch {
	case t.head <= applied:
		t.behindSince = time.Time{}
	case t.behindSince.IsZero():
		t.behindSince = t.now()
	}
}

// Run replays until ctx ends (returning nil) or the log is found broken
// (returning an error wrapping ErrGap, ErrCorrupt or ErrTokenRegression).
// Transient etcd errors are retried with backoff.
func (t *Tailer) Run(ctx context.Context) error {
	backoff := 20 * time.Millisecond
	for ctx.Err() == nil {
		err := t.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if IsBroken(err) || errors.Is(err, ErrTrimmed) {
			t.mu.Lock()
			t.err = err
			t.notifyLocked()
			t.mu.Unlock()
			return err
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		backoff = min(2*backoff, time.Second)
	}
	return nil
}

// CatchUp applies every record in the log after the applied index with
// direct reads, not waiting for any watch, and returns the last fenced
// index it read (linearizably, now). It must not run concurrently with
// Run. A promoted standby calls it after stopping Run: the head it returns
// was read after winning, so nothing can follow it.
func (t *Tailer) CatchUp(ctx context.Context) (uint64, error) {
	if err := t.Err(); err != nil {
		return 0, err
	}
	_, head, err := t.catchUpHead(ctx)
	return head, err
}

// follow reads everything after the applied index, then watches.
func (t *Tailer) follow(ctx context.Context) error {
	rev, err := t.catchUp(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := t.c.Watch(clientv3.WithRequireLeader(wctx), t.keys.WatchPrefix(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	// A watch that starts at an already-written revision gets its events
	// from etcd's catch-up loop, which runs every 100 ms; until then, read
	// directly now and then, so a member that just (re)started replay is
	// not 100 ms behind.
	poll := time.NewTicker(syncPollEvery)
	defer poll.Stop()
	pollC, pollEnd := poll.C, time.Now().Add(syncPoll)
	for {
		select {
		case wr, ok := <-wch:
			if !ok {
				return ctx.Err()
			}
			if err := wr.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					return nil // re-read from the applied index
				}
				return err
			}
			for _, ev := range wr.Events {
				if ev.Type != mvccpb.PUT {
					continue // trimming deletes batches that were applied long ago
				}
				if err := t.handle(ev.Kv); err != nil {
					return err
				}
			}
		case <-pollC:
			if time.Now().After(pollEnd) {
				poll.Stop()
				pollC = nil
				continue
			}
			if _, err := t.catchUp(ctx); err != nil {
				return err
			}
		}
	}
}

// syncPoll is how long a new watch is backed by direct reads.
const (
	syncPoll      = 150 * time.Millisecond
	syncPollEvery = 10 * time.Millisecond
)

// catchUp applies every batch after the applied index with ranged reads and
// returns the revision they were read at.
func (t *Tailer) catchUp(ctx context.Context) (int64, error) {
	rev, _, err := t.catchUpHead(ctx)
	return rev, err
}

// catchUpHead is catchUp, also returning the log head it read. Each round
// is ONE read-only transaction (one linearizable round trip): the head, the
// first index, the batch that may hold applied+1 but start earlier, and a
// page of the batches after it, all at one revision.
func (t *Tailer) catchUpHead(ctx context.Context) (rev int64, head uint64, err error) {
	const page = 64
	for {
		from := t.keys.Batch(t.sm.AppliedIndex() + 1)
		r, err := t.c.Txn(ctx).Then(
			clientv3.OpGet(t.keys.Head()),
			clientv3.OpGet(t.keys.First()),
			clientv3.OpGet(t.keys.BatchPrefix(), clientv3.WithRange(from),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1)),
			clientv3.OpGet(from, clientv3.WithRange(t.keys.BatchEnd()), clientv3.WithLimit(page)),
		).Commit()
		if err != nil {
			return 0, 0, err
		}
		rev = r.Header.Revision
		headKVs := r.Responses[0].GetResponseRange().Kvs
		firstKVs := r.Responses[1].GetResponseRange().Kvs
		prev := r.Responses[2].GetResponseRange().Kvs
		batches := r.Responses[3].GetResponseRange()
		if len(headKVs) > 0 {
			if head, err = parseIndex(headKVs[0].Value); err != nil {
				return 0, 0, err
			}
			t.setHead(head)
		}
		if len(firstKVs) > 0 {
			f, err := parseIndex(firstKVs[0].Value)
			if err != nil {
				return 0, 0, err
			}
			t.setFirst(f)
			if applied := t.sm.AppliedIndex(); f > applied+1 {
				return 0, 0, fmt.Errorf("log starts at %d but this member applied only %d: %w", f, applied, ErrTrimmed)
			}
		}
		for _, kv := range prev {
			if err := t.handle(kv); err != nil {
				return 0, 0, err
			}
		}
		for _, kv := range batches.Kvs {
			if err := t.handle(kv); err != nil {
				return 0, 0, err
			}
		}
		if !batches.More {
			return rev, head, nil
		}
	}
}

// handle applies one PUT under the log prefix.
func (t *Tailer) handle(kv *mvccpb.KeyValue) error {
	key := string(kv.Key)
	if key == t.keys.Head() {
		h, err := parseIndex(kv.Value)
		if err != nil {
			return err
		}
		t.setHead(h)
		return nil
	}
	if key == t.keys.First() {
		f, err := parseIndex(kv.Value)
		if err != nil {
			return err
		}
		t.setFirst(f)
		return nil
	}
	if !strings.HasPrefix(key, t.keys.BatchPrefix()) {
		return nil
	}
	b, err := decodeBatch(kv.Value)
	if err != nil {
		return fmt.Errorf("batch %s: %w", key, err)
	}
	if want := t.keys.Batch(b.First); want != key {
		return fmt.Errorf("batch at %s says it starts at %d: %w", key, b.First, ErrCorrupt)
	}
	applied := t.sm.AppliedIndex()
	if b.Last() <= applied {
		return nil // already applied (re-read after a reconnect)
	}
	if b.First > applied+1 {
		t.mu.Lock()
		first := t.first
		t.mu.Unlock()
		if first > applied+1 {
			return fmt.Errorf("next index is %d but the log now starts at %d: %w", applied+1, first, ErrTrimmed)
		}
		return fmt.Errorf("next index is %d but batch %s starts at %d: %w", applied+1, key, b.First, ErrGap)
	}
	t.mu.Lock()
	last := t.lastToken
	t.mu.Unlock()
	for _, r := range b.Records[applied+1-b.First:] {
		if r.Token < last {
			return fmt.Errorf("record %d has token %d after token %d: %w", r.Index, r.Token, last, ErrTokenRegression)
		}
		last = r.Token
		t.sm.Apply(r)
	}
	t.mu.Lock()
	t.lastToken = last
	if b.Last() > t.head {
		t.head = b.Last()
	}
	t.trackLagLocked()
	t.notifyLocked()
	t.mu.Unlock()
	return nil
}

func (t *Tailer) setFirst(f uint64) {
	t.mu.Lock()
	if f > t.first {
		t.first = f
	}
	t.mu.Unlock()
}

// IsBroken reports whether err says the log itself is damaged (a gap, a
// corrupt batch, a token going backwards): replay must stop for good.
func IsBroken(err error) bool {
	return errors.Is(err, ErrGap) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTokenRegression)
}

// ReadHead returns the last fenced index, read linearizably now.
func ReadHead(ctx context.Context, c *clientv3.Client, keys Keys) (uint64, error) {
	r, err := c.Get(ctx, keys.Head())
	if err != nil {
		return 0, fmt.Errorf("walship: read log head: %w", err)
	}
	if len(r.Kvs) == 0 {
		return 0, nil
	}
	return parseIndex(r.Kvs[0].Value)
}
