package chunkmaster_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/chunkserver"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/devcluster"
	"github.com/gfsha/master/internal/server"
)

// env is an in-process cluster: embedded etcd, masters and chunkservers
// that a test can stop, restart and pause one by one.
type env struct {
	t    testing.TB
	dc   *devcluster.Cluster
	etcd *clientv3.Client // the chunkservers' and the test's
	css  []*chunkserver.Server
	dirs []string
	opts []chunkserver.StoreOptions
	cl   *client.Client
}

// testChunk is the data-path configuration of the tests: small chunks,
// short leases, quick failure detection.
// testLogger discards logs unless CHUNK_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("CHUNK_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func testChunk() chunkmaster.Config {
	return chunkmaster.Config{Replication: 3, ChunkSize: 1 << 20, LeaseDuration: 3 * time.Second,
		// DeadAfter is 50 heartbeats: with 1 s, a loaded CI machine delayed
		// heartbeats past it, so live chunkservers were declared dead,
		// skipped at allocation and re-replicated around (a chunk on two of
		// three servers; three replicas at replication 2).
		DeadAfter: 5 * time.Second, ScanInterval: 100 * time.Millisecond}
}

func startEnv(t testing.TB, masters, chunkservers int, cc chunkmaster.Config) *env {
	t.Helper()
	cfg := config.Config{Cluster: "test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	cfg.Chunk.Replication = cc.Replication
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: masters, Logger: testLogger(),
		Dir: dir, NoFsync: true, Chunkservers: -1, Chunk: cc})
	if err != nil {
		t.Fatalf("start dev cluster: %v", err)
	}
	t.Cleanup(dc.Close)
	dc.WaitStable(t)
	etcd, err := dc.Etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dc: dc, etcd: etcd}
	t.Cleanup(func() {
		for _, cs := range e.css {
			if cs != nil {
				cs.Close()
			}
		}
		etcd.Close()
	})
	for i := range chunkservers {
		e.dirs = append(e.dirs, filepath.Join(dir, "cs"+strconv.Itoa(i+1)))
		e.opts = append(e.opts, chunkserver.StoreOptions{})
		e.css = append(e.css, nil)
		e.startCS(i)
	}
	cl, err := client.New(ctx, client.Config{Etcd: etcd, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	e.cl = cl
	e.waitAttached(len(e.css), 30*time.Second)
	return e
}

// startCS starts (or restarts) chunkserver i, with its own directory.
func (e *env) startCS(i int) *chunkserver.Server {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	cs, err := chunkserver.Start(ctx, chunkserver.Config{ID: "cs" + strconv.Itoa(i+1), Dir: e.dirs[i], Listen: "127.0.0.1:0",
		Etcd: e.etcd, Cluster: "test", HeartbeatInterval: 100 * time.Millisecond, Logger: testLogger(), Store: e.opts[i]})
	if err != nil {
		e.t.Fatalf("start cs%d: %v", i+1, err)
	}
	e.css[i] = cs
	return cs
}

// restartCS restarts chunkserver i (on a new port) and waits until the
// primary has it registered at its new address.
func (e *env) restartCS(i int) {
	e.t.Helper()
	e.stopCS(i)
	cs := e.startCS(i)
	e.waitFor(30*time.Second, cs.ID()+" registered at its new address", func() bool {
		p := e.dc.Primary()
		if p == nil {
			return false
		}
		snap := p.Chunks.Snapshot()
		if snap == nil {
			return false
		}
		for _, c := range snap.Chunkservers {
			if c.ID == cs.ID() && c.Address == cs.Addr() {
				return true
			}
		}
		return false
	})
}

func (e *env) stopCS(i int) {
	e.css[i].Close()
	e.css[i] = nil
}

// primary is the serving master (waits, bounded, for one).
func (e *env) primary() *server.Server {
	e.t.Helper()
	var p *server.Server
	e.waitFor(30*time.Second, "a serving primary", func() bool { p = e.dc.Primary(); return p != nil && p.Chunks.Snapshot() != nil })
	return p
}

// waitFor polls cond every 5 ms; the test fails after bound.
func (e *env) waitFor(bound time.Duration, what string, cond func() bool) {
	e.t.Helper()
	waitFor(e.t, bound, what, cond)
}

func waitFor(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not within %v", what, bound)
		case <-tick.C:
		}
	}
}

// waitAttached waits until the primary has n chunkservers registered under
// its own token.
func (e *env) waitAttached(n int, bound time.Duration) *chunkmaster.TermSnapshot {
	e.t.Helper()
	var snap *chunkmaster.TermSnapshot
	e.waitFor(bound, fmt.Sprintf("%d chunkservers attached to the primary's term", n), func() bool {
		p := e.dc.Primary()
		if p == nil {
			return false
		}
		snap = p.Chunks.Snapshot()
		if snap == nil {
			return false
		}
		// A new term starts with the chunkservers the shadows heard from,
		// still on the old token; attached means registered under this one
		// (so the chunkserver has learnt it and refuses the old).
		attached := 0
		for _, cs := range snap.Chunkservers {
			if cs.Token == snap.Token {
				attached++
			}
		}
		return attached == n
	})
	return snap
}

// failover revokes the primary's session lease and waits until another
// master serves; it returns the old and the new primary.
func (e *env) failover() (old, next *server.Server) {
	e.t.Helper()
	old = e.primary()
	oldTok := old.Node.Status().Token
	id, err := strconv.ParseUint(old.Node.Status().LeaseID, 16, 64)
	if err != nil {
		e.t.Fatalf("lease id %q: %v", old.Node.Status().LeaseID, err)
	}
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	if _, err := e.etcd.Revoke(ctx, clientv3.LeaseID(id)); err != nil {
		e.t.Fatalf("revoke primary's lease: %v", err)
	}
	e.waitFor(30*time.Second, "a new primary", func() bool {
		p := e.dc.Primary()
		if p == nil || p == old || p.Node.Status().Token <= oldTok || p.Chunks.Snapshot() == nil {
			return false
		}
		next = p
		return true
	})
	return old, next
}

func randData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// put stores data at path through the public client.
func (e *env) put(path string, data []byte) {
	e.t.Helper()
	if _, err := e.cl.Put(e.ctx(120*time.Second), path, bytes.NewReader(data)); err != nil {
		e.t.Fatalf("Put(%s, %d bytes): %v", path, len(data), err)
	}
}

// cat reads path back and fails the test unless it is exactly want.
func (e *env) cat(path string, want []byte) {
	e.t.Helper()
	var got bytes.Buffer
	n, err := e.cl.Cat(e.ctx(120*time.Second), path, &got)
	if err != nil || !bytes.Equal(got.Bytes(), want) {
		e.t.Fatalf("Cat(%s) = %d bytes, %v; want the %d bytes put", path, n, err, len(want))
	}
}

// chunksOf is the handles of path's chunks, in order.
func (e *env) chunksOf(path string) []client.Chunk {
	e.t.Helper()
	st, err := e.cl.Stat(e.ctx(30*time.Second), path)
	if err != nil {
		e.t.Fatalf("Stat(%s): %v", path, err)
	}
	return st.Handle
}

// master is a raw ChunkMaster client of the master m.
func (e *env) master(m *server.Server) chunkpb.ChunkMasterClient {
	return chunkpb.NewChunkMasterClient(e.conn(m.RPCAddr()))
}

// chunkserver is a raw Chunkserver client of cs.
func (e *env) chunkserver(cs *chunkserver.Server) chunkpb.ChunkserverClient {
	return chunkpb.NewChunkserverClient(e.conn(cs.Addr()))
}

func (e *env) conn(addr string) *grpc.ClientConn {
	e.t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cc.Close() })
	return cc
}

// csByID is the running chunkserver with id.
func (e *env) csByID(id string) (int, *chunkserver.Server) {
	for i, cs := range e.css {
		if cs != nil && cs.ID() == id {
			return i, cs
		}
	}
	return -1, nil
}

// currentReplicas counts, for each chunk of path, the replicas the primary
// knows at the chunk's current version.
func (e *env) currentReplicas(path string) []int {
	e.t.Helper()
	p := e.dc.Primary()
	if p == nil {
		return nil
	}
	snap := p.Chunks.Snapshot()
	if snap == nil {
		return nil
	}
	var out []int
	for _, c := range e.chunksOf(path) {
		n := 0
		for _, v := range snap.Versions[c.Handle] {
			if v == c.Version {
				n++
			}
		}
		out = append(out, n)
	}
	return out
}

func allAtLeast(ns []int, k int) bool {
	if len(ns) == 0 {
		return false
	}
	for _, n := range ns {
		if n < k {
			return false
		}
	}
	return true
}
