package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/checkpoint"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

// peers lets nodes fetch checkpoints from each other in-process.
type peers map[string]*Node

func (p peers) fetch(_ context.Context, addr string, minIndex uint64, w io.Writer) error {
	n, ok := p[addr]
	if !ok {
		return fmt.Errorf("no peer at %s", addr)
	}
	f, _, err := n.OpenCheckpoint(minIndex)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

func startDurable(t *testing.T, c *clientv3.Client, id, dir string, p peers) (*Node, func()) {
	t.Helper()
	n := New(Config{
		Client: c, Keys: testKeys, NodeID: id, Address: id, LeaseTTL: 10 * time.Second,
		StatusInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		DataDir: dir, CheckpointInterval: time.Hour, TrimInterval: time.Hour, Compact: true, Fetch: p.fetch,
	})
	p[id] = n
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once bool
	stop := func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return n, stop
}

func creates(t *testing.T, n *Node, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := create(t.Context(), n, fmt.Sprintf("/c%d", i), "", 0); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
}

func TestRestartFromCheckpointAndTail(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := t.TempDir()
	p := peers{}
	n1, stop1 := startDurable(t, c, "n1", filepath.Join(dir, "n1"), p)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	creates(t, n1, 0, 100)
	ck, err := n1.Checkpoint()
	if err != nil || ck == 0 {
		t.Fatalf("Checkpoint = %d, %v", ck, err)
	}
	creates(t, n1, 100, 150) // the tail after the checkpoint
	want := n1.State().Digest()
	wantIdx := n1.State().AppliedIndex()
	stop1()

	n1b, _ := startDurable(t, c, "n1", filepath.Join(dir, "n1"), p)
	waitFor(t, 20*time.Second, "restarted n1 to serve", n1b.Serving)
	if got := n1b.Status().CheckpointIndex; got != ck {
		t.Errorf("checkpoint_index after restart = %d; want %d (loaded from disk)", got, ck)
	}
	for i := range 150 {
		if _, err := n1b.State().Stat(fmt.Sprintf("/c%d", i)); err != nil {
			t.Fatalf("/c%d lost across restart: %v", i, err)
		}
	}
	// Same state as before, plus the new primary's first write.
	if got := n1b.State().AppliedIndex(); got != wantIdx+1 {
		t.Fatalf("applied %d after restart; want %d", got, wantIdx+1)
	}
	if got := n1b.State().Digest(); got == want {
		t.Error("digest unchanged although the restarted primary wrote its first record")
	}
}

func TestCorruptCheckpointFallsBack(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := filepath.Join(t.TempDir(), "n1")
	p := peers{}
	n1, stop1 := startDurable(t, c, "n1", dir, p)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	creates(t, n1, 0, 20)
	first, _ := n1.Checkpoint()
	creates(t, n1, 20, 40)
	second, _ := n1.Checkpoint()
	stop1()
	newest := filepath.Join(dir, "checkpoints", fmt.Sprintf("ckpt-%020d.snap", second))
	b, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(newest, b, 0o644)

	n1b, _ := startDurable(t, c, "n1", dir, p)
	waitFor(t, 20*time.Second, "n1 to serve again", n1b.Serving)
	if got := n1b.Status().CheckpointIndex; got != first {
		t.Errorf("loaded checkpoint %d; want the previous one, %d", got, first)
	}
	for i := range 40 {
		if _, err := n1b.State().Stat(fmt.Sprintf("/c%d", i)); err != nil {
			t.Fatalf("/c%d lost: %v", i, err)
		}
	}
}

// After a checkpoint and trim, a member with an empty data dir fetches a
// checkpoint from a peer, replays the tail, and can take over.
func TestJoinFromNothingAfterTrim(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := t.TempDir()
	p := peers{}
	n1, stop1 := startDurable(t, c, "n1", filepath.Join(dir, "n1"), p)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2, stop2 := startDurable(t, c, "n2", filepath.Join(dir, "n2"), p)
	creates(t, n1, 0, 200)
	waitFor(t, 20*time.Second, "n2 to catch up", func() bool { return n2.State().AppliedIndex() == n1.State().AppliedIndex() })
	if _, err := n2.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	first, err := n1.Trim(t.Context())
	if err != nil || first < 100 {
		t.Fatalf("Trim = %d, %v; want the log trimmed past most of the creates", first, err)
	}
	if got, _ := walship.ReadFirst(t.Context(), c, testKeys.WAL()); got != first {
		t.Fatalf("first index in etcd = %d; want %d", got, first)
	}
	creates(t, n1, 200, 220)

	n3, _ := startDurable(t, c, "n3", filepath.Join(dir, "n3"), p)
	waitFor(t, 30*time.Second, "n3 to join from nothing", func() bool {
		return n3.Role() == cluster.RoleCandidate && n3.State().AppliedIndex() == n1.State().AppliedIndex()
	})
	if n3.Status().CheckpointIndex == 0 {
		t.Error("n3 caught up without a fetched checkpoint")
	}
	if d1, d3 := n1.State().Digest(), n3.State().Digest(); d1 != d3 {
		t.Fatalf("digests differ after join: %s vs %s", d1, d3)
	}
	// n3 takes over with every file (n2 stops first so that n3 must win).
	stop2()
	stop1()
	waitFor(t, 30*time.Second, "n3 to serve", n3.Serving)
	for i := range 220 {
		if err := n3.Read(func(s *meta.State) error { _, err := s.Stat(fmt.Sprintf("/c%d", i)); return err }); err != nil {
			t.Fatalf("/c%d missing on new primary n3: %v", i, err)
		}
	}
	if err := create(t.Context(), n3, "/after", "", 0); err != nil {
		t.Fatalf("n3 as primary cannot write: %v", err)
	}
}

// An ordinary failover while some member publishes a checkpoint below the
// log's start (a restarting member, one that fetched a peer's checkpoint)
// must not stop trimming for good: the new primary trims again once every
// member holds a newer checkpoint.
func TestTrimGoesOnAfterFailoverWithStaleCheckpoint(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := t.TempDir()
	p := peers{}
	n1, stop1 := startDurable(t, c, "n1", filepath.Join(dir, "n1"), p)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2, _ := startDurable(t, c, "n2", filepath.Join(dir, "n2"), p)
	creates(t, n1, 0, 100)
	waitFor(t, 20*time.Second, "n2 to catch up", func() bool { return n2.State().AppliedIndex() == n1.State().AppliedIndex() })
	if _, err := n2.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	first, err := n1.Trim(t.Context())
	if err != nil || first < 50 {
		t.Fatalf("Trim on n1 = %d, %v; want the log trimmed past most of the creates", first, err)
	}

	stop1()
	waitFor(t, 30*time.Second, "n2 to serve", n2.Serving)
	// A member that publishes a checkpoint the log no longer reaches.
	stale, _ := json.Marshal(cluster.MemberStatus{NodeID: "n9", Role: cluster.RoleStandby, CheckpointIndex: 5, OldestCheckpointIndex: 5})
	if _, err := c.Put(t.Context(), testKeys.Member("n9"), string(stale)); err != nil {
		t.Fatal(err)
	}
	got, err := n2.Trim(t.Context())
	if err != nil || got != first {
		t.Fatalf("Trim on the new primary with a member at checkpoint 5 = %d, %v; want the log's first index %d", got, err, first)
	}
	if _, err := c.Delete(t.Context(), testKeys.Member("n9")); err != nil {
		t.Fatal(err)
	}

	// Two more checkpoints on n2 (it keeps two): the older one is past the
	// log's start, so trimming must go on.
	creates(t, n2, 100, 200)
	if _, err := n2.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	creates(t, n2, 200, 300)
	if _, err := n2.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	again, err := n2.Trim(t.Context())
	if err != nil || again <= first+50 {
		t.Fatalf("Trim on n2 after two more checkpoints = %d, %v; want well past %d", again, err, first)
	}
	if got, _ := walship.ReadFirst(t.Context(), c, testKeys.WAL()); got != again {
		t.Fatalf("first index in etcd = %d; want %d", got, again)
	}
}

// A member restarting with a checkpoint the log no longer reaches fetches a
// peer's, drops its own unreplayable ones, and never publishes one below the
// log's first index - 1 (the primary trims below the oldest published).
func TestFetchedCheckpointDropsUnreplayableOnes(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := t.TempDir()
	p := peers{}
	n1, _ := startDurable(t, c, "n1", filepath.Join(dir, "n1"), p)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2, stop2 := startDurable(t, c, "n2", filepath.Join(dir, "n2"), p)
	creates(t, n1, 0, 50)
	waitFor(t, 20*time.Second, "n2 to catch up", func() bool { return n2.State().AppliedIndex() == n1.State().AppliedIndex() })
	old, err := n2.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	stop2()
	creates(t, n1, 50, 150)
	if _, err := n1.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	first, err := n1.Trim(t.Context())
	if err != nil || first <= old+1 {
		t.Fatalf("Trim = %d, %v; want past n2's checkpoint %d", first, err, old)
	}

	// Every status n2 publishes from now on.
	wctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wch := c.Watch(wctx, testKeys.Member("n2"))
	n2b, _ := startDurable(t, c, "n2", filepath.Join(dir, "n2"), p)
	waitFor(t, 30*time.Second, "n2 to fetch a checkpoint and catch up", func() bool {
		return n2b.Status().CheckpointIndex+1 >= first && n2b.State().AppliedIndex() == n1.State().AppliedIndex()
	})
	if got := n2b.Status().OldestCheckpointIndex; got+1 < first {
		t.Errorf("n2's oldest checkpoint = %d; want one the log reaches (>= %d)", got, first-1)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "n2", "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == fmt.Sprintf("ckpt-%020d.snap", old) {
			t.Errorf("n2 kept checkpoint %d although the log starts at %d", old, first)
		}
	}
	// Until it is current, everything n2 published.
	if err := n2b.publishOnce(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	want := n2b.Status().CheckpointIndex
	for done := false; !done; {
		select {
		case wr := <-wch:
			for _, ev := range wr.Events {
				var m cluster.MemberStatus
				if json.Unmarshal(ev.Kv.Value, &m) != nil {
					continue
				}
				if (m.CheckpointIndex != 0 && m.CheckpointIndex+1 < first) || (m.OldestCheckpointIndex != 0 && m.OldestCheckpointIndex+1 < first) {
					t.Errorf("n2 published checkpoint %d, oldest %d; the log starts at %d", m.CheckpointIndex, m.OldestCheckpointIndex, first)
				}
				done = done || m.CheckpointIndex == want
			}
		case <-time.After(20 * time.Second):
			t.Fatal("n2's current status never seen on the watch")
		}
	}
}

// Only checkpoints at or after the log's first index - 1 are published: the
// primary trims below the oldest one published.
func TestPublishesOnlyReplayableCheckpoints(t *testing.T) {
	n := New(Config{NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	st, err := checkpoint.Open(t.TempDir(), 3, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.store = st
	s := meta.New()
	for i := 1; i <= 200; i++ {
		if r := s.Apply(uint64(i), meta.Op{Type: meta.OpCreate, Path: fmt.Sprintf("/f%d", i)}); r.Err != nil {
			t.Fatal(r.Err)
		}
		if i == 50 || i == 200 {
			if _, err := st.Save(s, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	n.ckptIndex.Store(200)
	for _, tt := range []struct {
		first            uint64
		wantNew, wantOld uint64
	}{
		{1, 200, 50},
		{51, 200, 50},  // 50 = first - 1: replay starts right after it
		{52, 200, 200}, // 50 is unreachable now
		{201, 200, 200},
		{202, 0, 0}, // none reachable
	} {
		n.noteLogFirst(tt.first)
		got := n.Status()
		if got.CheckpointIndex != tt.wantNew || got.OldestCheckpointIndex != tt.wantOld {
			t.Errorf("log starting at %d: published checkpoint %d, oldest %d; want %d, %d",
				tt.first, got.CheckpointIndex, got.OldestCheckpointIndex, tt.wantNew, tt.wantOld)
		}
	}
}
