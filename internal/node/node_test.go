package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

var testKeys = cluster.ForCluster("test")

func startNode(t *testing.T, c *clientv3.Client, id string, hook func(walship.Record)) (*Node, func()) {
	t.Helper()
	n := New(Config{
		Client: c, Keys: testKeys, NodeID: id, Address: id + ":7001", LeaseTTL: 10 * time.Second,
		StatusInterval: 20 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	})
	n.applyHook = hook
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return n, stop
}

// waitFor polls cond (cheap, in-memory) until it holds or the bound passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", within, what)
		case <-tick.C:
		}
	}
}

func create(ctx context.Context, n *Node, path, client string, seq uint64) error {
	r, err := n.Propose(ctx, meta.Op{Type: meta.OpCreate, Path: path, ClientID: client, Seq: seq})
	if err != nil {
		return err
	}
	return r.Err
}

func leaseOf(t *testing.T, n *Node) clientv3.LeaseID {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.session == nil {
		t.Fatal("node has no session")
	}
	return n.session.LeaseID()
}

func TestFailoverLosesNothingAcknowledged(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1, _ := startNode(t, c, "n1", nil)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2, _ := startNode(t, c, "n2", nil)
	waitFor(t, 20*time.Second, "n2 to campaign and see n1 lead", func() bool {
		return n2.Role() == cluster.RoleCandidate && n2.Leader().NodeID == "n1"
	})

	if err := n2.Read(func(*meta.State) error { return nil }); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("standby Read = %v; want ErrNotPrimary", err)
	}
	var npe *NotPrimaryError
	if err := create(t.Context(), n2, "/x", "", 0); !errors.As(err, &npe) || npe.NodeID != "n1" {
		t.Fatalf("standby Propose = %v; want NotPrimaryError naming n1", err)
	}

	// Concurrent writers while the primary's lease is revoked mid-stream.
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	revoked := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprintf("w%d", w)
			for i := range 100 {
				p := fmt.Sprintf("/f-%d-%d", w, i)
				seq := uint64(i + 1)
				for ctx.Err() == nil {
					target := n1
					if n2.Serving() {
						target = n2
					}
					err := create(ctx, target, p, client, seq)
					if err == nil {
						mu.Lock()
						acked[p] = true
						mu.Unlock()
						break
					}
					if !errors.Is(err, ErrNotPrimary) && !errors.Is(err, ErrUnknownOutcome) {
						t.Errorf("create %s: %v", p, err)
						return
					}
					select { // retry soon, the same (client, seq)
					case <-ctx.Done():
					case <-time.After(5 * time.Millisecond):
					}
				}
				if w == 0 && i == 30 {
					close(revoked)
				}
			}
		}()
	}
	<-revoked
	if _, err := c.Revoke(ctx, leaseOf(t, n1)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	waitFor(t, 20*time.Second, "n2 to serve", n2.Serving)
	if n1.Serving() {
		t.Fatal("n1 still serving after its lease was revoked")
	}
	if got, want := len(acked), 800; got != want {
		t.Fatalf("%d creates acknowledged; want %d", got, want)
	}
	for p := range acked {
		if err := n2.Read(func(s *meta.State) error { _, err := s.Stat(p); return err }); err != nil {
			t.Fatalf("acknowledged %s missing on new primary: %v", p, err)
		}
	}
	// The old primary rejoins as a standby and converges.
	waitFor(t, 20*time.Second, "n1 to rejoin and catch up", func() bool {
		return n1.Role() == cluster.RoleCandidate && n1.State().AppliedIndex() == n2.State().AppliedIndex()
	})
	if d1, d2 := n1.State().Digest(), n2.State().Digest(); d1 != d2 {
		t.Fatalf("digests differ at index %d: %s vs %s", n2.State().AppliedIndex(), d1, d2)
	}
	st := n2.Status()
	if st.LastPromotion == nil || st.LastPromotion.PreviousToken == 0 || st.LastPromotion.Token <= st.LastPromotion.PreviousToken {
		t.Errorf("promotion record = %+v; want a token above the previous one", st.LastPromotion)
	}
}

// A standby that wins while behind must not answer until it caught up.
func TestGateHoldsUntilCaughtUp(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1, stop1 := startNode(t, c, "n1", nil)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)

	gate := make(chan struct{})
	var blockFrom uint64 = 1 << 62
	var bmu sync.Mutex
	n2, _ := startNode(t, c, "n2", func(r walship.Record) {
		bmu.Lock()
		from := blockFrom
		bmu.Unlock()
		if r.Index >= from {
			<-gate
		}
	})
	waitFor(t, 20*time.Second, "n2 to catch up", func() bool {
		return n2.State().AppliedIndex() == n1.State().AppliedIndex()
	})
	bmu.Lock()
	blockFrom = n1.State().AppliedIndex() + 1
	bmu.Unlock()
	for i := range 50 {
		if err := create(t.Context(), n1, fmt.Sprintf("/g%d", i), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	want := n1.State().AppliedIndex()
	stop1() // n1 shuts down and revokes its session: n2 wins, behind
	waitFor(t, 20*time.Second, "n2 to win", func() bool { return n2.Role() == cluster.RoleCatchingUp })
	if err := create(t.Context(), n2, "/during-gate", "", 0); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("Propose while catching up = %v; want ErrNotPrimary", err)
	}
	if err := n2.Read(func(*meta.State) error { return nil }); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("Read while catching up = %v; want ErrNotPrimary", err)
	}
	if n2.Serving() {
		t.Fatal("n2 serves while behind")
	}
	close(gate)
	waitFor(t, 20*time.Second, "n2 to serve", n2.Serving)
	if got := n2.State().AppliedIndex(); got <= want {
		t.Fatalf("n2 serves at index %d; want above %d (caught up plus its first write)", got, want)
	}
	for i := range 50 {
		p := fmt.Sprintf("/g%d", i)
		if err := n2.Read(func(s *meta.State) error { _, err := s.Stat(p); return err }); err != nil {
			t.Fatalf("%s missing after gate: %v", p, err)
		}
	}
	if st := n2.Status(); st.LastPromotion == nil || st.LastPromotion.ReplayedEntries < 50 {
		t.Errorf("promotion = %+v; want at least 50 replayed entries", st.LastPromotion)
	}
}

// A deposed primary that has not yet noticed refuses a confirmed read.
func TestConfirmedReadRefusedAfterRevoke(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1, _ := startNode(t, c, "n1", nil)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	if err := n1.ReadConfirmed(t.Context(), func(*meta.State) error { return nil }); err != nil {
		t.Fatalf("confirmed read on the primary: %v", err)
	}
	// Delete the leader key behind the node's back, then read at once:
	// the watch may not have reported it yet, the confirmation must.
	n1.mu.Lock()
	key := n1.lead.Key()
	n1.mu.Unlock()
	if _, err := c.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if err := n1.ReadConfirmed(t.Context(), func(*meta.State) error { return nil }); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("confirmed read after the leader key was deleted = %v; want ErrNotPrimary", err)
	}
}

// TestConcurrentRetriesExecuteOnce: several attempts of the same (session,
// lane, seq) in flight at once (a client retrying while its first attempt
// is still queued) all reach the log; the op runs once and every attempt
// gets its answer.
func TestConcurrentRetriesExecuteOnce(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	logged := 0
	n, _ := startNode(t, c, "n1", func(r walship.Record) {
		op, err := meta.UnmarshalOp(r.Data)
		if err != nil || op.Type != meta.OpCreate || op.Path != "/once" {
			return
		}
		mu.Lock()
		logged++
		mu.Unlock()
		once.Do(func() { close(entered); <-release })
	})
	waitFor(t, 20*time.Second, "n1 to serve", n.Serving)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sid, err := n.RegisterSession(ctx)
	if err != nil || sid == 0 {
		t.Fatalf("RegisterSession = %d, %v", sid, err)
	}
	op := meta.Op{Type: meta.OpCreate, Path: "/once", Session: sid, ClientID: "lane-1", Seq: 1}
	const attempts = 8
	results := make(chan error, attempts)
	propose := func() {
		r, err := n.Propose(ctx, op)
		if err == nil {
			err = r.Err
		}
		results <- err
	}
	go propose()
	select { // the first attempt is being applied; the others queue behind it
	case <-entered:
	case <-ctx.Done():
		t.Fatal("first attempt never applied")
	}
	for range attempts - 1 {
		go propose()
	}
	n.mu.Lock()
	app := n.appender
	n.mu.Unlock()
	waitFor(t, 20*time.Second, "the retries to queue", func() bool { return app.Queued() == attempts-1 })
	close(release)
	for i := range attempts {
		select {
		case err := <-results:
			if err != nil {
				t.Errorf("attempt %d = %v; want the first answer (success)", i, err)
			}
		case <-ctx.Done():
			t.Fatal("attempts did not finish")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if logged != attempts {
		t.Errorf("%d attempts reached the log; want all %d (the test must exercise dedup on apply)", logged, attempts)
	}
	if got := n.State().Files(); got != 1 {
		t.Errorf("Files() = %d; want 1", got)
	}
}
