package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/faultproxy"
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
	// 800 creates, each a WAL write to etcd, take a few seconds here and
	// far longer on a loaded race-instrumented CI machine: the bound only
	// keeps a hang from running to the package timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
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
	select {
	case <-revoked:
	case <-ctx.Done():
		wg.Wait()
		t.Fatal("the writers never reached the point where the lease is revoked")
	}
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
	// Opened at the latest when the test ends, so a failure cannot leave
	// n2's replay blocked (and the test hanging in n2's shutdown).
	var openOnce sync.Once
	open := func() { openOnce.Do(func() { close(gate) }) }
	t.Cleanup(open)
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
	open()
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
//
// The primary's view of etcd is delayed by a proxy, so its watch cannot
// report the deleted leader key before the read is answered; only the
// confirmation can refuse it. A second node is queued in the election, so
// the first cannot win again under a new key: neither a quick re-election
// nor a quick watch can decide the outcome.
func TestConfirmedReadRefusedAfterRevoke(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	p := faultproxy.Start(t, "n1-etcd", srv.Endpoint())
	n1, _ := startNode(t, proxiedClient(t, p), "n1", nil)
	t.Cleanup(p.Heal) // before n1 stops: its shutdown goes through the proxy
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2, _ := startNode(t, c, "n2", nil)
	waitFor(t, 20*time.Second, "n2 to campaign behind n1", func() bool {
		return n2.Role() == cluster.RoleCandidate && n2.Leader().NodeID == "n1"
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n1.ReadConfirmed(ctx, func(*meta.State) error { return nil }); err != nil {
		t.Fatalf("confirmed read on the primary: %v", err)
	}
	n1.mu.Lock()
	key := n1.lead.Key()
	n1.mu.Unlock()
	// Everything etcd tells n1 from now on arrives 3 s late.
	p.Delay(faultproxy.FromUpstream, 3*time.Second)
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	served := false
	err := n1.ReadConfirmed(ctx, func(*meta.State) error { served = true; return nil })
	if served || !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("leadership confirmation: a read on a primary whose leader key was deleted = %v (served %v); want ErrNotPrimary, not served", err, served)
	}
	waitFor(t, 20*time.Second, "n2 to serve", n2.Serving)
}

// proxiedClient is an etcd client that reaches etcd through p.
func proxiedClient(t *testing.T, p *faultproxy.Proxy) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{p.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A missing batch stops a standby's replay with an error that says so, and
// the standby withdraws from the election: it can never be promoted over
// the gap, even when the primary goes away.
func TestGapStopsReplayAndPromotion(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1, stop1 := startNode(t, c, "n1", nil)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for i := range 3 { // one batch each: Propose waits for its commit
		if err := create(ctx, n1, fmt.Sprintf("/g%d", i), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	// Cut the second of those batches out of the log.
	gap := n1.State().AppliedIndex() - 1
	wal := testKeys.WAL()
	if r, err := c.Delete(ctx, wal.Batch(gap)); err != nil || r.Deleted != 1 {
		t.Fatalf("delete batch %d: %v, %v", gap, r, err)
	}
	n2, _ := startNode(t, c, "n2", nil)
	waitFor(t, 20*time.Second, "gap detection: n2 to report a replay error", func() bool { return n2.Status().ReplayError != "" })
	if got := n2.Status().ReplayError; !strings.Contains(got, "gap") || !strings.Contains(got, fmt.Sprint(gap)) {
		t.Errorf("replay error = %q; want it to name the gap at %d", got, gap)
	}
	if got, want := n2.State().AppliedIndex(), gap-1; got != want {
		t.Errorf("gap detection: n2 applied %d; want %d (up to the gap, nothing after it)", got, want)
	}
	// n2 withdrew: only n1's key remains under the election prefix.
	waitFor(t, 20*time.Second, "n2 to leave the election", func() bool {
		r, err := c.Get(ctx, testKeys.Election(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 1
	})
	stop1()
	waitFor(t, 20*time.Second, "n1's key to go", func() bool {
		r, err := c.Get(ctx, testKeys.Election(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 0
	})
	if n2.Serving() || n2.Role() == cluster.RolePrimary || n2.Role() == cluster.RoleCatchingUp {
		t.Fatalf("gap detection: n2 is %s with a gap in its log; want it out of the election", n2.Role())
	}
}

// Concurrent proposals of one (client, seq) through Node.Propose execute
// once and all get that execution's answer. The first one's apply is held
// until the others are queued in the appender, so they are in the log too
// and only the state machine's dedup stands between them and a second
// execution.
func TestConcurrentProposalsExecuteOnce(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	n1, _ := startNode(t, c, "n1", func(r walship.Record) {
		if op, err := meta.UnmarshalOp(r.Data); err == nil && op.ClientID == "dup" {
			once.Do(func() {
				close(held)
				select {
				case <-release:
				case <-time.After(30 * time.Second):
				}
			})
		}
	})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseAll) // a failure must not leave the apply held
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	op := meta.Op{Type: meta.OpMkdir, Path: "/once", ClientID: "dup", Seq: 1}
	const n = 8
	type answer struct {
		r   meta.Result
		err error
	}
	answers := make(chan answer, n)
	propose := func() {
		r, err := n1.Propose(ctx, op)
		answers <- answer{r, err}
	}
	go propose()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the first proposal was never applied")
	}
	for range n - 1 {
		go propose()
	}
	n1.mu.Lock()
	app := n1.appender
	n1.mu.Unlock()
	// Let the others queue behind the held apply (bounded: a change that
	// answers them without queueing is fine too).
	qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
	for app.Queued() < n-1 && qctx.Err() == nil {
		select {
		case <-qctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	qcancel()
	releaseAll()
	for i := range n {
		select {
		case a := <-answers:
			if a.err != nil || a.r.Err != nil {
				t.Errorf("dedup: proposal %d of (dup, 1) = %+v, %v; want the first execution's success", i, a.r, a.err)
			}
		case <-ctx.Done():
			t.Fatalf("dedup: only %d of %d proposals answered", i, n)
		}
	}
	if _, err := n1.State().Stat("/once"); err != nil {
		t.Fatalf("/once after the proposals: %v", err)
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
