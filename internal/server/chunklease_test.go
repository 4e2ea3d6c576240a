package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/chunkserver"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/faultproxy"
	"github.com/gfsha/master/internal/meta"
)

// TestNoOldChunkLeaseOutlivesNewPrimaryGrace is issue 10's item 8: the
// primary and all chunkservers are cut off from etcd together, while they
// still reach each other and a client keeps asking the old primary for
// chunk leases. The chunkservers never learn the new primary's token from
// etcd, so only time can end the old primary's leases: once the new
// primary's grace (the time it waits before granting a lease on a chunk an
// earlier primary may have leased) has passed, no chunkserver may still
// hold a lease under the old token.
func TestNoOldChunkLeaseOutlivesNewPrimaryGrace(t *testing.T) {
	dir := t.TempDir()
	etcd := embedetcd.StartT(t)
	cc := chunkmaster.Config{Replication: 3, ChunkSize: 1 << 20, LeaseDuration: 2 * time.Second,
		DeadAfter: time.Second, ScanInterval: 100 * time.Millisecond}
	p1 := faultproxy.Start(t, "n1→etcd", etcd.Endpoint())
	n1 := startLeaseMasterChunks(t, dir, "n1", p1.Addr(), cc)
	t.Cleanup(p1.Heal)
	waitFor(t, "n1 serves", n1.Node.Serving)

	// The chunkservers reach etcd through one proxy of their own.
	pcs := faultproxy.Start(t, "chunkservers→etcd", etcd.Endpoint())
	t.Cleanup(pcs.Heal)
	csEtcd, err := clientv3.New(clientv3.Config{Endpoints: []string{pcs.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { csEtcd.Close() })
	var css []*chunkserver.Server
	for i := range 3 {
		id := fmt.Sprintf("cs%d", i+1)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		cs, err := chunkserver.Start(ctx, chunkserver.Config{ID: id, Dir: filepath.Join(dir, id), Listen: "127.0.0.1:0",
			Etcd: csEtcd, Cluster: "default", HeartbeatInterval: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		t.Cleanup(cs.Close)
		css = append(css, cs)
	}
	waitFor(t, "the chunkservers attach to n1", func() bool { return n1.Chunks.Attached() == 3 })
	n2 := startLeaseMasterChunks(t, dir, "n2", etcd.Endpoint(), cc)
	waitFor(t, "n2 is a caught-up standby", n2.Node.CaughtUp)
	oldToken := n1.Node.Status().Token

	// Chunks with leases under n1's token.
	m1 := chunkpb.NewChunkMasterClient(rpcConn(t, n1.RPCAddr()))
	type chunk struct {
		path   string
		handle uint64
	}
	var chunks []chunk
	for i := range 4 {
		path := fmt.Sprintf("/f%d", i)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		if r, err := n1.Node.Propose(ctx, meta.Op{Type: meta.OpCreate, Path: path}); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", path, err, r.Err)
		}
		l, err := m1.AllocateChunk(ctx, &chunkpb.AllocateRequest{Path: path})
		cancel()
		if err != nil {
			t.Fatalf("allocate a chunk of %s: %v", path, err)
		}
		chunks = append(chunks, chunk{path, l.Handle})
	}

	// A client keeps asking the old primary for the leases (renewed as they
	// expire) through the cut, until the new primary serves.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			for _, c := range chunks {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				m1.GetLease(ctx, &chunkpb.LeaseRequest{Path: c.path, Handle: c.handle})
				cancel()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	p1.Hold()
	pcs.Hold()
	var snap *chunkmaster.TermSnapshot
	waitFor(t, "n2 serves with chunk management", func() bool {
		snap = n2.Chunks.Snapshot()
		return snap != nil && n2.Node.Serving()
	})
	if snap.Token <= 0 || int64(snap.Token) <= oldToken {
		t.Fatalf("n2 serves under token %d, not above n1's %d", snap.Token, oldToken)
	}
	waitFor(t, "the new primary's grace to pass", func() bool { return time.Now().After(snap.GraceUntil) })
	for _, cs := range css {
		if tok := cs.Token(); int64(tok) != oldToken {
			t.Fatalf("%s obeys token %d, not n1's %d: it was not cut off from etcd with n1, so this test proves nothing", cs.ID(), tok, oldToken)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		info, err := chunkpb.NewChunkserverClient(rpcConn(t, cs.Addr())).Info(ctx, &chunkpb.InfoRequest{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range info.Leases {
			if l.Token == oldToken {
				t.Errorf("%s still holds a lease on chunk %d under the old token %d, %d ms left, after the new primary's grace ended",
					cs.ID(), l.Handle, l.Token, l.RemainingMs)
			}
		}
	}
}
