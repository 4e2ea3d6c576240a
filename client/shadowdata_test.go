package client_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/devcluster"
	"github.com/gfsha/master/internal/server"
)

// startShadowData starts masters masters and three chunkservers (256 KiB
// chunks, three replicas), and puts a file of three chunks at /f.
func startShadowData(t *testing.T, masters int, chunk chunkmaster.Config) (*devcluster.Cluster, []byte) {
	t.Helper()
	cfg := config.Config{Cluster: "test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	cfg.Chunk.Replication = 3
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	chunk.ChunkSize = 256 << 10
	dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: masters, Logger: slog.New(slog.DiscardHandler),
		Dir: t.TempDir(), NoFsync: true, Chunkservers: 3, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	dc.WaitStable(t)
	data := make([]byte, 2*256<<10+1234)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	c := newClient(t, dc)
	if n, err := c.Put(ctx, "/f", bytes.NewReader(data)); err != nil || n != int64(len(data)) {
		t.Fatalf("Put(/f) = %d, %v", n, err)
	}
	return dc, data
}

// waitReporting waits until every chunkserver reports to m.
func waitReporting(t *testing.T, m *server.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for m.Chunks.Reporting() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%d chunkservers report to %s; want %d", m.Chunks.Reporting(), m.Node.ID(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Chunkservers report to every master, so with the primary unreachable a
// client still locates, cats and reads a file: shadows answer Locate from
// the locations reported to them.
func TestCatThroughShadows(t *testing.T) {
	dc, data := startShadowData(t, 3, chunkmaster.Config{})
	primary := dc.Primary()
	for _, m := range dc.Masters {
		waitReporting(t, m, 3)
	}
	// This client cannot reach the primary at all.
	blocked := primary.RPCAddr()
	refuse := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if cc.Target() == blocked {
			return status.Errorf(codes.Unavailable, "test: the primary %s is unreachable", blocked)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test",
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(refuse)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for len(c.Members()) < len(dc.Masters) {
		select {
		case <-ctx.Done():
			t.Fatalf("client saw %d members; want %d", len(c.Members()), len(dc.Masters))
		case <-time.After(5 * time.Millisecond):
		}
	}
	loc, info, err := c.LocateInfo(ctx, "/f")
	if err != nil {
		t.Fatalf("locate /f with the primary unreachable: %v", err)
	}
	if info.ServedBy == "" || info.ServedBy == primary.Node.ID() {
		t.Fatalf("locate /f served by %q; want a shadow (the primary %s is unreachable)", info.ServedBy, primary.Node.ID())
	}
	if len(loc.Chunks) != 3 || loc.Size != int64(len(data)) {
		t.Fatalf("locate /f from %s: %d chunks, size %d; want 3 chunks, size %d", info.ServedBy, len(loc.Chunks), loc.Size, len(data))
	}
	for i, ch := range loc.Chunks {
		if len(ch.Replicas) == 0 {
			t.Fatalf("locate /f from %s: chunk %d without replicas", info.ServedBy, i)
		}
	}
	var got bytes.Buffer
	if n, err := c.Cat(ctx, "/f", &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("cat /f with the primary unreachable = %d bytes, %v; want the %d bytes put", n, err, len(data))
	}
	r, err := c.Open(ctx, "/f")
	if err != nil {
		t.Fatalf("open /f with the primary unreachable: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read /f with the primary unreachable = %d bytes, %v; want the %d bytes put", len(b), err, len(data))
	}
}

// A shadow promoted to primary knows every replica at once, from the
// reports it received as a shadow: its locations are full while no
// chunkserver has re-attached (their heartbeats are paused).
func TestPromotedPrimaryKnowsReplicas(t *testing.T) {
	// A long DeadAfter: the paused chunkservers stay alive in the table.
	dc, data := startShadowData(t, 2, chunkmaster.Config{DeadAfter: time.Minute})
	old := dc.Primary()
	var next *server.Server
	for _, m := range dc.Masters {
		if m != old {
			next = m
		}
	}
	c := newClient(t, dc)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	// The shadow's table holds the file's every replica.
	deadline := time.Now().Add(30 * time.Second)
	for {
		loc, info, err := c.LocateInfo(client.WithRead(ctx, client.ReadConfig{From: "shadow"}), "/f")
		full := err == nil && info.ServedBy == next.Node.ID()
		for _, ch := range loc.GetChunks() {
			full = full && len(ch.Replicas) == 3
		}
		if full {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("locate /f at the shadow %s: %v, %v; want 3 replicas of each chunk", next.Node.ID(), loc, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, cs := range dc.Chunkservers {
		cs.PauseHeartbeats(true)
	}
	old.Close()
	deadline = time.Now().Add(60 * time.Second)
	var snap *chunkmaster.TermSnapshot
	for snap = next.Chunks.Snapshot(); snap == nil; snap = next.Chunks.Snapshot() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start serving within 60 s of the primary's close", next.Node.ID())
		}
		time.Sleep(10 * time.Millisecond)
	}
	loc := snap
	if len(loc.Chunkservers) != 3 {
		t.Fatalf("new primary %s at promotion knows chunkservers %+v; want all 3 (reported to it as a shadow)", next.Node.ID(), loc.Chunkservers)
	}
	for _, cs := range loc.Chunkservers {
		if cs.Token >= loc.Token {
			t.Fatalf("chunkserver %s obeys token %d, the new term's %d: it re-attached, which the test meant to prevent", cs.ID, cs.Token, loc.Token)
		}
	}
	if len(loc.Replicas) < 3 {
		t.Fatalf("new primary %s at promotion knows replicas of %d chunks; want the file's 3", next.Node.ID(), len(loc.Replicas))
	}
	for h, ids := range loc.Replicas {
		if len(ids) != 3 {
			t.Fatalf("new primary %s at promotion knows chunk %d on %v; want 3 replicas", next.Node.ID(), h, ids)
		}
	}
	for _, cs := range dc.Chunkservers {
		cs.PauseHeartbeats(false)
	}
	var got bytes.Buffer
	if n, err := c.Cat(ctx, "/f", &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("cat /f from the new primary = %d bytes, %v; want the %d bytes put", n, err, len(data))
	}
}
