package walship

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/fencing"
)

// recorder is a StateMachine that keeps every record it applied.
type recorder struct {
	mu      sync.Mutex
	base    uint64 // index applied before the first record kept (a restored checkpoint)
	records []Record
}

func (r *recorder) Apply(rec Record) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := r.base + uint64(len(r.records)) + 1; rec.Index != want {
		panic(fmt.Sprintf("Apply(%d); want index %d", rec.Index, want))
	}
	rec.Data = append([]byte(nil), rec.Data...)
	r.records = append(r.records, rec)
	return string(rec.Data)
}

func (r *recorder) AppliedIndex() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.base + uint64(len(r.records))
}

func (r *recorder) data() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.records))
	for i, rec := range r.records {
		out[i] = string(rec.Data)
	}
	return out
}

var keys = Keys{Prefix: "/test/wal"}

const electionPrefix = "/test/election"

func lead(t *testing.T, c *clientv3.Client) *election.Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := election.NewSession(ctx, c, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := election.Campaign(ctx, s, electionPrefix, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	return l
}

func newAppender(t *testing.T, c *clientv3.Client, l *election.Leadership, sm StateMachine, mod func(*AppenderConfig)) *Appender {
	t.Helper()
	head, err := ReadHead(t.Context(), c, keys)
	if err != nil {
		t.Fatal(err)
	}
	cfg := AppenderConfig{Client: c, Keys: keys, LeaderKey: l.Key(), Token: l.Token(), Head: head, SM: sm}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewAppender(l.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Release(); a.Wait() })
	return a
}

func TestGroupCommitAndTail(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	l := lead(t, c)
	primary, standby := &recorder{}, &recorder{}

	tctx, stopTail := context.WithCancel(t.Context())
	tail := NewTailer(c, keys, standby)
	tailDone := make(chan error, 1)
	go func() { tailDone <- tail.Run(tctx) }()

	var batches, records int
	var mu sync.Mutex
	a := newAppender(t, c, l, primary, func(cfg *AppenderConfig) {
		cfg.Observe = func(n, _ int, _ time.Duration) {
			mu.Lock()
			batches++
			records += n
			mu.Unlock()
		}
	})
	const n = 2000
	var wg sync.WaitGroup
	acked := make([]uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := a.Append(t.Context(), []byte(fmt.Sprintf("op-%d", i)))
			if err != nil {
				t.Errorf("Append %d: %v", i, err)
				return
			}
			if got, want := r.Value, fmt.Sprintf("op-%d", i); got != want {
				t.Errorf("Append %d result = %v; want %v", i, got, want)
			}
			acked[i] = r.Index
		}()
	}
	wg.Wait()
	if got := primary.AppliedIndex(); got != n {
		t.Fatalf("primary applied %d; want %d", got, n)
	}
	seen := map[uint64]bool{}
	for i, idx := range acked {
		if idx < 1 || idx > n || seen[idx] {
			t.Fatalf("append %d acknowledged at index %d (dup or out of range)", i, idx)
		}
		seen[idx] = true
	}
	mu.Lock()
	t.Logf("%d records in %d transactions", records, batches)
	if batches >= n/2 {
		t.Errorf("%d transactions for %d concurrent appends; group commit is not batching", batches, n)
	}
	mu.Unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := tail.WaitApplied(ctx, n); err != nil {
		t.Fatalf("standby WaitApplied: %v", err)
	}
	if got, want := fmt.Sprint(standby.data()), fmt.Sprint(primary.data()); got != want {
		t.Fatal("standby replayed a different log than the primary applied")
	}
	st := tail.Status()
	if st.Applied != n || st.Head != n || st.LagEntries != 0 || st.Token != l.Token() {
		t.Errorf("tailer status = %+v; want applied=head=%d, lag 0, token %d", st, n, l.Token())
	}
	stopTail()
	if err := <-tailDone; err != nil {
		t.Errorf("tailer Run = %v; want nil after cancel", err)
	}
}

// A master whose lease is revoked while it holds a batch must have that
// append rejected by etcd and acknowledge nothing more.
func TestRevokedWriterIsFenced(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	old := lead(t, c)
	sm := &recorder{}

	hold := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	a := newAppender(t, c, old, sm, func(cfg *AppenderConfig) {
		cfg.beforeCommit = func() {
			if sm.AppliedIndex() == 1 {
				once.Do(func() { close(hold); <-release })
			}
		}
	})
	if _, err := a.Append(t.Context(), []byte("first")); err != nil {
		t.Fatalf("first append: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := a.Append(t.Context(), []byte("held"))
		errc <- err
	}()
	select { // the appender holds "held", about to commit
	case <-hold:
	case err := <-errc:
		t.Fatalf("held append returned %v before it was sent", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the appender never reached its second commit")
	}

	// Meanwhile the lease is revoked and a new leader writes.
	if _, err := c.Revoke(t.Context(), old.Session().LeaseID()); err != nil {
		t.Fatal(err)
	}
	nl := lead(t, c)
	if nl.Token() <= old.Token() {
		t.Fatalf("new token %d <= old %d", nl.Token(), old.Token())
	}
	sm2 := &recorder{}
	tail := NewTailer(c, keys, sm2)
	tctx, stop := context.WithCancel(t.Context())
	go tail.Run(tctx)
	defer stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tail.WaitApplied(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stop()
	a2 := newAppender(t, c, nl, sm2, nil)
	if _, err := a2.Append(t.Context(), []byte("new-leader")); err != nil {
		t.Fatalf("new leader append: %v", err)
	}

	close(release)
	select {
	case err := <-errc:
		// The old leadership's context may have been cancelled first (the
		// watch saw the revoke): then the batch is failed before sending.
		if !errors.Is(err, ErrDeposed) && !errors.Is(err, ErrStopped) {
			t.Fatalf("held append by deposed master = %v; want ErrDeposed or ErrStopped", err)
		}
		if errors.Is(err, ErrUnknownOutcome) {
			t.Fatalf("held append = %v; the outcome is known: not written", err)
		}
	case <-ctx.Done():
		t.Fatal("held append never returned")
	}
	if _, err := a.Append(t.Context(), []byte("later")); !errors.Is(err, ErrStopped) {
		t.Fatalf("append after deposition = %v; want ErrStopped", err)
	}
	if got := sm.AppliedIndex(); got != 1 {
		t.Errorf("deposed master applied %d records; want 1", got)
	}
	check := &recorder{}
	tailAll(t, c, check, 2)
	if got, want := fmt.Sprint(check.data()), "[first new-leader]"; got != want {
		t.Errorf("log = %s; want %s", got, want)
	}
}

// Even with no leadership context to stop it, a stale writer's transaction
// fails in etcd: fencing does not depend on the writer noticing.
func TestStaleTokenRejectedByEtcd(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	old := lead(t, c)
	if _, err := c.Revoke(t.Context(), old.Session().LeaseID()); err != nil {
		t.Fatal(err)
	}
	sm := &recorder{}
	// A context that does not end while the test runs: the paused process
	// has not noticed anything. (It ends at the test's end, so that a
	// broken fence fails this test instead of hanging it.)
	actx, stop := context.WithCancel(context.Background())
	a, err := NewAppender(actx, AppenderConfig{
		Client: c, Keys: keys, LeaderKey: old.Key(), Token: old.Token(), SM: sm,
	})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	defer a.Wait()
	defer stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := a.Append(ctx, []byte("stale")); !errors.Is(err, ErrDeposed) {
		t.Fatalf("fencing-token compare: an append whose leader key is gone = %v; want ErrDeposed", err)
	}
	if h, _ := ReadHead(t.Context(), c, keys); h != 0 {
		t.Fatalf("head = %d after a fenced-out append; want 0", h)
	}
	if sm.AppliedIndex() != 0 {
		t.Fatal("a rejected record was applied")
	}
}

// An appender holding the current token but a stale view of the log head
// must be refused: the head compare, not just the batch key's, keeps the log
// dense. Here the log holds records 1..3 in one batch (key 1) and the
// appender believes the head is 1, so its batch key 2 is free and only the
// head compare stops it from writing records 2..3 a second time.
func TestStaleHeadRefusedWithCurrentToken(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	l := lead(t, c)
	b := &Batch{First: 1, Token: l.Token(), Committed: time.Now()}
	for i := range 3 {
		b.Records = append(b.Records, Record{Index: uint64(i + 1), Token: l.Token(), Data: []byte("x")})
	}
	if _, err := c.Txn(t.Context()).Then(
		clientv3.OpPut(keys.Batch(1), string(encodeBatch(nil, b))),
		clientv3.OpPut(keys.Head(), formatIndex(3)),
	).Commit(); err != nil {
		t.Fatal(err)
	}
	sm := &recorder{base: 1}
	a := newAppender(t, c, l, sm, func(cfg *AppenderConfig) { cfg.Head = 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if _, err := a.Append(ctx, []byte("over")); !errors.Is(err, ErrDeposed) {
		t.Fatalf("head compare: append with the current token and a stale head = %v; want ErrDeposed", err)
	}
	if h, err := ReadHead(ctx, c, keys); err != nil || h != 3 {
		t.Fatalf("head = %d, %v after the refused append; want 3", h, err)
	}
	if r, err := c.Get(ctx, keys.Batch(2)); err != nil || len(r.Kvs) != 0 {
		t.Fatalf("batch key 2 after the refused append: %v, %v; want none", r, err)
	}
	if got := sm.AppliedIndex(); got != 1 {
		t.Errorf("the refused append was applied: applied %d; want 1", got)
	}
}

func tailAll(t *testing.T, c *clientv3.Client, sm *recorder, upTo uint64) {
	t.Helper()
	tail := NewTailer(c, keys, sm)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tail.Run(ctx) }()
	if err := tail.WaitApplied(ctx, upTo); err != nil {
		t.Fatalf("WaitApplied(%d): %v", upTo, err)
	}
	cancel()
	<-done
}

func TestTailerStopsOnBrokenLog(t *testing.T) {
	good := func(first uint64, tok fencing.Token, n int) string {
		b := &Batch{First: first, Token: tok, Committed: time.Now()}
		for i := range n {
			b.Records = append(b.Records, Record{Index: first + uint64(i), Token: tok, Data: []byte("x")})
		}
		return string(encodeBatch(nil, b))
	}
	tests := []struct {
		name   string
		kvs    map[uint64]string
		want   error
		okUpTo uint64
	}{
		{"gap", map[uint64]string{1: good(1, 5, 2), 4: good(4, 5, 1)}, ErrGap, 2},
		{"bad checksum", map[uint64]string{1: good(1, 5, 2), 3: good(3, 5, 1)[:10] + "Z" + good(3, 5, 1)[11:]}, ErrCorrupt, 2},
		{"token regression", map[uint64]string{1: good(1, 7, 2), 3: good(3, 6, 1)}, ErrTokenRegression, 2},
		{"misfiled batch", map[uint64]string{1: good(2, 5, 1)}, ErrCorrupt, 0},
	}
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := Keys{Prefix: fmt.Sprintf("/broken/%d", i)}
			for first, v := range tt.kvs {
				if _, err := c.Put(t.Context(), k.Batch(first), v); err != nil {
					t.Fatal(err)
				}
			}
			sm := &recorder{}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := NewTailer(c, k, sm).Run(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("replay of a broken log (%s): Run = %v; want %v (stop for good, never skip)", tt.name, err, tt.want)
			}
			if got := sm.AppliedIndex(); got != tt.okUpTo {
				t.Errorf("applied %d before stopping; want %d (nothing skipped)", got, tt.okUpTo)
			}
		})
	}
}

func TestLagIsReported(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	sm := &recorder{}
	tail := NewTailer(c, keys, sm)
	now := time.Now()
	tail.now = func() time.Time { return now }
	tail.setHead(5)
	now = now.Add(300 * time.Millisecond)
	st := tail.Status()
	if st.LagEntries != 5 || st.Lag != 300*time.Millisecond {
		t.Errorf("Status() = %+v; want 5 entries and 300ms of lag", st)
	}
}

func TestBatchRoundTrip(t *testing.T) {
	b := &Batch{First: 42, Token: 9, Committed: time.Unix(0, 12345), Records: []Record{
		{Index: 42, Token: 9, Data: []byte("a")}, {Index: 43, Token: 9, Data: nil}, {Index: 44, Token: 9, Data: make([]byte, 300)},
	}}
	got, err := decodeBatch(encodeBatch(nil, b))
	if err != nil {
		t.Fatal(err)
	}
	if got.First != 42 || got.Token != 9 || len(got.Records) != 3 || got.Last() != 44 || len(got.Records[2].Data) != 300 || !got.Committed.Equal(b.Committed) {
		t.Fatalf("round trip = %+v; want %+v", got, b)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(nil, &Batch{First: 1, Token: 3, Records: []Record{{Index: 1, Token: 3, Data: []byte("hi")}}}))
	f.Add([]byte("GWB1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeBatch(b) // must not panic
	})
}
