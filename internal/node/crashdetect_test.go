package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
)

// fakeRPC stands for a primary's RPC port: it accepts connections and holds
// them until closed, as a crashed process's kernel would then refuse.
type fakeRPC struct {
	l     net.Listener
	mu    sync.Mutex // guards conns
	conns []net.Conn
}

func listenRPC(t *testing.T) *fakeRPC {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRPC{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
		}
	}()
	t.Cleanup(f.crash)
	return f
}

func (f *fakeRPC) addr() string { return f.l.Addr().String() }

// crash closes the listener and every connection.
func (f *fakeRPC) crash() {
	f.l.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
}

func startCrashNode(t *testing.T, c *clientv3.Client, id, addr string, detect time.Duration) *Node {
	t.Helper()
	n := New(Config{
		Client: c, Keys: testKeys, NodeID: id, Address: addr, LeaseTTL: 60 * time.Second,
		StatusInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), CrashDetect: detect,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// TestCrashDetectedRevokes: with a 60 s lease, a primary whose address
// starts refusing connections is replaced by the standby long before the
// lease could expire, and the history says "crash" with a detect phase.
// While the address only accepts and stays silent (a paused process), the
// standby does nothing.
func TestCrashDetectedRevokes(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	rpc := listenRPC(t)
	n1 := startCrashNode(t, c, "n1", rpc.addr(), 100*time.Millisecond)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2 := startCrashNode(t, c, "n2", "127.0.0.1:1", 100*time.Millisecond)
	waitFor(t, 20*time.Second, "n2 to campaign behind n1", func() bool {
		return n2.Role() == cluster.RoleCandidate && n2.Leader().NodeID == "n1" && n2.CaughtUp()
	})
	// Silent but accepting, as a paused process: no failover (a negative
	// check over a bounded half second, ten times the detect delay).
	time.Sleep(500 * time.Millisecond)
	if !n1.Serving() || n2.Role() == cluster.RolePrimary {
		t.Fatalf("failover while the primary's address accepted: n1 serving %v, n2 %s", n1.Serving(), n2.Role())
	}

	tok := n1.Status().Token
	start := time.Now()
	rpc.crash()
	waitFor(t, 30*time.Second, "n2 to serve after n1's address refuses", n2.Serving)
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("n2 served %v after the crash; want well before the 60 s lease", took)
	}
	tok2 := n2.Status().Token
	if tok2 <= tok {
		t.Fatalf("n2 token %d; want above n1's %d", tok2, tok)
	}
	var h cluster.HistoryRecord
	waitFor(t, 20*time.Second, "history record", func() bool {
		g, err := c.Get(t.Context(), testKeys.HistoryEntry(tok2))
		return err == nil && len(g.Kvs) == 1 && json.Unmarshal(g.Kvs[0].Value, &h) == nil
	})
	if h.Reason != "crash" || h.Phases.DetectMs == nil || *h.Phases.DetectMs < 100 || h.Phases.ElectMs == nil || h.Phases.TotalMs == nil {
		t.Errorf("history record %+v; want reason crash with detect (≥ 100 ms), elect and total phases", h)
	}
}

// TestCrashDetectWaitsWhilePaused: in maintenance mode a refusing primary
// is left alone (no automatic failover); after resume the standby acts.
func TestCrashDetectWaitsWhilePaused(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	rpc := listenRPC(t)
	n1 := startCrashNode(t, c, "n1", rpc.addr(), 50*time.Millisecond)
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	n2 := startCrashNode(t, c, "n2", "127.0.0.1:1", 50*time.Millisecond)
	waitFor(t, 20*time.Second, "n2 to campaign behind n1", func() bool {
		return n2.Role() == cluster.RoleCandidate && n2.Leader().NodeID == "n1"
	})
	paused := testKeys.ControlKey(cluster.ControlPaused)
	if _, err := c.Put(t.Context(), paused, `{}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "n2 to see the pause", n2.Paused)
	rpc.crash()
	time.Sleep(500 * time.Millisecond) // a bounded negative check: ten detect delays
	if !n1.Serving() || n2.Role() == cluster.RolePrimary {
		t.Fatalf("paused cluster: n1 serving %v, n2 %s; want n1 left alone", n1.Serving(), n2.Role())
	}
	if _, err := c.Delete(t.Context(), paused); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "n2 to serve after resume", n2.Serving)
}
