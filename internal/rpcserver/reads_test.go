package rpcserver_test

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/faultproxy"
	"github.com/gfsha/master/internal/node"
	"github.com/gfsha/master/internal/rpcserver"
)

var keys = cluster.ForCluster("test")

// master is one node with its RPC server on a free port.
type master struct {
	n   *node.Node
	rpc masterpb.MasterClient
}

// startMaster runs node id against etcd client c, serving RPC until the
// test ends.
func startMaster(t *testing.T, c *clientv3.Client, id string) *master {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := node.New(node.Config{Client: c, Keys: keys, NodeID: id, Address: ln.Addr().String(),
		LeaseTTL: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	g := grpc.NewServer()
	rpcserver.Register(g, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.Run(ctx) }()
	go func() { defer wg.Done(); g.Serve(ln) }()
	t.Cleanup(func() { g.Stop(); cancel(); wg.Wait() })
	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &master{n: n, rpc: masterpb.NewMasterClient(cc)}
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

// A primary whose leader key is deleted behind its back, and whose view of
// etcd is delayed so that it cannot have noticed, may go on answering Stat
// and List as every member does (shadow reads), but never from a state older
// than a write the new primary acknowledged before the read was sent: each
// read is refused or sees that write. A second master is queued in the
// election, so the first cannot win again under a new key before the reads.
func TestReadRefusedByDeposedPrimary(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	p := faultproxy.Start(t, "n1-etcd", srv.Endpoint())
	m1 := startMaster(t, proxiedClient(t, p), "n1")
	t.Cleanup(p.Heal) // first: n1's shutdown goes through the proxy
	waitFor(t, 20*time.Second, "n1 to serve", m1.n.Serving)
	m2 := startMaster(t, c, "n2")
	waitFor(t, 20*time.Second, "n2 to campaign behind n1", func() bool {
		return m2.n.Role() == cluster.RoleCandidate && m2.n.Leader().NodeID == "n1"
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := m1.rpc.Mkdir(ctx, &masterpb.PathRequest{Path: "/d"}); err != nil {
		t.Fatalf("Mkdir on the primary: %v", err)
	}
	if _, err := m1.rpc.Stat(ctx, &masterpb.StatRequest{Path: "/d"}); err != nil {
		t.Fatalf("Stat on the primary: %v", err)
	}
	lead, err := election.CurrentLeader(ctx, c, keys.Election())
	if err != nil || lead.Key == "" {
		t.Fatalf("current leader: %+v, %v", lead, err)
	}

	// Everything etcd tells n1 from now on arrives late.
	const late = 6 * time.Second
	p.Delay(faultproxy.FromUpstream, late)
	delayed := time.Now()
	if _, err := c.Delete(ctx, lead.Key); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "n2 to serve", m2.n.Serving)
	if _, err := m2.rpc.Mkdir(ctx, &masterpb.PathRequest{Path: "/d/new"}); err != nil {
		t.Fatalf("Mkdir on the new primary: %v", err)
	}
	sent := time.Now()
	reads := map[string]func() (bool, error){
		"Stat": func() (bool, error) {
			_, err := m1.rpc.Stat(ctx, &masterpb.StatRequest{Path: "/d/new"})
			return err == nil, err
		},
		"List": func() (bool, error) {
			r, err := m1.rpc.List(ctx, &masterpb.StatRequest{Path: "/d"})
			return err == nil && len(r.Entries) == 1, err
		},
	}
	type answer struct {
		fresh bool
		err   error
	}
	got := make(map[string]answer)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, read := range reads { // at once, both well inside the delay
		wg.Add(1)
		go func() {
			defer wg.Done()
			fresh, err := read()
			mu.Lock()
			got[name] = answer{fresh, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if since := sent.Sub(delayed); since >= late {
		t.Logf("the reads were sent %v after n1's view of etcd was delayed by %v: this run tested less than it should", since.Round(time.Millisecond), late)
	}
	for name, a := range got {
		if a.err == nil && !a.fresh {
			t.Errorf("stale read: %s on deposed n1 answered without the new primary's acknowledged /d/new (read skipped its head read or its catch-up)", name)
		}
		if a.err != nil && status.Code(a.err) != codes.Unavailable {
			t.Errorf("%s on deposed n1 = %v; want an answer that sees /d/new, or Unavailable", name, a.err)
		}
	}
}
