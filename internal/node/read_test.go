package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

// holdGate blocks a node's apply of records while held.
type holdGate struct {
	mu   sync.Mutex
	held bool
	open chan struct{}
}

func newHoldGate() *holdGate { return &holdGate{open: make(chan struct{})} }

func (g *holdGate) hold() {
	g.mu.Lock()
	g.held, g.open = true, make(chan struct{})
	g.mu.Unlock()
}

func (g *holdGate) release() {
	g.mu.Lock()
	if g.held {
		g.held = false
		close(g.open)
	}
	g.mu.Unlock()
}

func (g *holdGate) hook(walship.Record) {
	g.mu.Lock()
	held, open := g.held, g.open
	g.mu.Unlock()
	if held {
		<-open
	}
}

func statFn(path string) func(*meta.State) error {
	return func(s *meta.State) error { _, err := s.Stat(path); return err }
}

// readCluster is a primary n1 and a standby n2 whose replay can be held.
func readCluster(t *testing.T) (n1, n2 *Node, gate *holdGate) {
	t.Helper()
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1, _ = startNode(t, c, "n1", nil)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	gate = newHoldGate()
	n2, _ = startNode(t, c, "n2", gate.hook)
	t.Cleanup(gate.release) // before n2 stops (cleanups run last first)
	if err := create(t.Context(), n1, "/before", "", 0); err != nil {
		t.Fatal(err)
	}
	want := n1.State().AppliedIndex()
	waitFor(t, 20*time.Second, "n2 to replay /before", func() bool { return n2.State().AppliedIndex() >= want })
	return n1, n2, gate
}

// A linearizable read on a shadow reflects every write acknowledged before
// it began: while the shadow cannot apply it, the read waits and then
// fails; it never answers from the older state.
func TestLinearizableReadOnShadowSeesAcknowledgedWrite(t *testing.T) {
	n1, n2, gate := readCluster(t)
	ctx := t.Context()
	if info, err := n2.ReadAt(ctx, ReadOptions{}, statFn("/before")); err != nil || info.ServedBy != "n2" {
		t.Fatalf("linearizable read of /before on the shadow = %+v, %v; want served by n2", info, err)
	}
	gate.hold()
	if err := create(ctx, n1, "/a", "", 0); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := n2.ReadAt(short, ReadOptions{}, statFn("/a"))
	cancel()
	if !errors.Is(err, ErrLagging) {
		t.Fatalf("linearizable read on a shadow held behind an acknowledged write = %v; want ErrLagging (never the older state)", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := n2.ReadAt(ctx, ReadOptions{}, statFn("/a"))
		done <- err
	}()
	gate.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("linearizable read of /a after the shadow caught up: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("linearizable read did not return within 30 s of the shadow catching up")
	}
	// On the primary too.
	if info, err := n1.ReadAt(ctx, ReadOptions{}, statFn("/a")); err != nil || info.ServedBy != "n1" {
		t.Fatalf("linearizable read on the primary = %+v, %v", info, err)
	}
}

// Many concurrent linearizable reads share head reads: far fewer etcd reads
// than reads.
func TestLinearizableReadsShareHeadReads(t *testing.T) {
	_, n2, _ := readCluster(t)
	var reads, heads int
	for range 5 {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := n2.ReadAt(t.Context(), ReadOptions{}, statFn("/before")); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		reads += 50
	}
	heads = int(n2.reads.headReads.Load())
	if heads >= reads/2 {
		t.Errorf("%d linearizable reads made %d head reads; want them shared", reads, heads)
	}
	t.Logf("%d reads, %d head reads", reads, heads)
}

// A session read answers once the client's index is applied, and not before.
func TestSessionReadWaitsForClientIndex(t *testing.T) {
	n1, n2, gate := readCluster(t)
	ctx := t.Context()
	seen := n2.State().AppliedIndex()
	gate.hold()
	if err := create(ctx, n1, "/s", "", 0); err != nil {
		t.Fatal(err)
	}
	idx := n1.State().AppliedIndex()
	// An index the shadow has: answered at once.
	if info, err := n2.ReadAt(ctx, ReadOptions{Consistency: Session, MinIndex: seen}, statFn("/before")); err != nil || info.AppliedIndex < seen {
		t.Fatalf("session read at index %d = %+v, %v; want an answer from index >= %d", seen, info, err, seen)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := n2.ReadAt(short, ReadOptions{Consistency: Session, MinIndex: idx}, statFn("/s"))
	cancel()
	if !errors.Is(err, ErrLagging) {
		t.Fatalf("session read at index %d on a shadow held below it = %v; want ErrLagging", idx, err)
	}
	gate.release()
	info, err := n2.ReadAt(ctx, ReadOptions{Consistency: Session, MinIndex: idx}, statFn("/s"))
	if err != nil || info.AppliedIndex < idx {
		t.Fatalf("session read at index %d after catch-up = %+v, %v", idx, info, err)
	}
}

// A stale read answers at once, never claiming to be fresher than it is,
// and is refused past its max lag.
func TestStaleReadStatesHonestLag(t *testing.T) {
	n1, n2, gate := readCluster(t)
	ctx := t.Context()
	waitFor(t, 20*time.Second, "n2 to know it is fresh", func() bool { return n2.reads.lag() < time.Second })
	gate.hold()
	if err := create(ctx, n1, "/late", "", 0); err != nil {
		t.Fatal(err)
	}
	acked := time.Now()
	// Let the missing write age past a few of keepFresh's head reads, so
	// that an honest lag is measurably large and a dishonest one shows.
	waitFor(t, 20*time.Second, "the write to age", func() bool { return time.Since(acked) > 1500*time.Millisecond })
	before := time.Now()
	info, err := n2.ReadAt(ctx, ReadOptions{Consistency: Stale, MaxLag: time.Hour}, statFn("/late"))
	if !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("stale read of /late on a held shadow = %v; want not found (the older state)", err)
	}
	if min := before.Sub(acked); info.Lag < min {
		t.Fatalf("stale read claims lag %v, but its state lacks a write acknowledged %v earlier", info.Lag, min)
	}
	if _, err := n2.ReadAt(ctx, ReadOptions{Consistency: Stale, MaxLag: 100 * time.Millisecond}, statFn("/before")); !errors.Is(err, ErrLagging) {
		t.Fatalf("stale read with max lag 100ms on a shadow %v behind = %v; want ErrLagging", info.Lag, err)
	}
	gate.release()
	want := n1.State().AppliedIndex()
	waitFor(t, 20*time.Second, "n2 to apply /late", func() bool { return n2.State().AppliedIndex() >= want })
	if _, err := n2.ReadAt(ctx, ReadOptions{Consistency: Stale}, statFn("/late")); err != nil {
		t.Fatalf("stale read after catch-up: %v", err)
	}
}

// Stale reads keep answering while etcd is unreachable (here: the node's
// etcd client is closed under it).
func TestStaleReadWithoutEtcd(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1, _ := startNode(t, c, "n1", nil)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	if err := create(t.Context(), n1, "/x", "", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "n1 to know it is fresh", func() bool { return n1.reads.lag() < time.Second })
	c.Close() // the node's only way to etcd
	info, err := n1.ReadAt(t.Context(), ReadOptions{Consistency: Stale, MaxLag: time.Hour}, statFn("/x"))
	if err != nil {
		t.Fatalf("stale read with etcd down: %v", err)
	}
	short, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := n1.ReadAt(short, ReadOptions{}, statFn("/x")); err == nil {
		t.Fatalf("linearizable read with etcd down answered; want a refusal")
	}
	t.Logf("stale read with etcd down: %+v", info)
}
