package chunkserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/embedetcd"
)

func startCS(t *testing.T, etcd *clientv3.Client, id, dir string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Start(ctx, Config{ID: id, Dir: dir, Listen: "127.0.0.1:0", Etcd: etcd, Cluster: "t",
		HeartbeatInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
	t.Cleanup(s.Close)
	return s
}

func rawClient(t *testing.T, addr string) chunkpb.ChunkserverClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return chunkpb.NewChunkserverClient(cc)
}

// campaign makes a fake primary win the election of cluster "t"; its token
// is the key's create revision.
func campaign(t *testing.T, etcd *clientv3.Client, addr string) *election.Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := election.NewSession(ctx, etcd, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	l, err := election.Campaign(ctx, s, cluster.ForCluster("t").Election(), cluster.LeaderValue{NodeID: "fake", Address: addr}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitUntil(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not within %v", what, bound)
		case <-tick.C:
		}
	}
}

// TestFencedAcrossRestart: a chunkserver learns each new primary's token
// from the election in etcd (no master needed) and from commands; it
// refuses commands and forwarded writes under an older token, with an error
// naming both tokens, and keeps refusing them after a restart.
func TestFencedAcrossRestart(t *testing.T) {
	e := embedetcd.StartT(t)
	etcd := embedetcd.ClientT(t, e)
	dir := t.TempDir()
	cs := startCS(t, etcd, "cs1", dir)
	first := campaign(t, etcd, "127.0.0.1:1")
	waitUntil(t, 30*time.Second, "the first primary's token learnt from etcd", func() bool { return cs.Token() == first.Token() })
	c := rawClient(t, cs.Addr())
	ctx := t.Context()
	if _, err := c.CreateChunk(ctx, &chunkpb.CreateChunkRequest{Token: int64(first.Token()), Handle: 1, Version: 1, MaxSize: 1 << 20}); err != nil {
		t.Fatalf("create under the current token: %v", err)
	}
	// A newer primary: the old one is fenced as soon as etcd says so.
	first.Resign(ctx)
	second := campaign(t, etcd, "127.0.0.1:2")
	waitUntil(t, 30*time.Second, "the second primary's token learnt from etcd", func() bool { return cs.Token() == second.Token() })

	old := int64(first.Token())
	refused := func(when string, c chunkpb.ChunkserverClient) {
		t.Helper()
		for name, call := range map[string]func() error{
			"create": func() error {
				_, err := c.CreateChunk(ctx, &chunkpb.CreateChunkRequest{Token: old, Handle: 2, Version: 1, MaxSize: 1 << 20})
				return err
			},
			"set version": func() error {
				_, err := c.SetVersion(ctx, &chunkpb.SetVersionRequest{Token: old, Handle: 1, From: 1, To: 2})
				return err
			},
			"copy": func() error {
				_, err := c.CopyChunk(ctx, &chunkpb.CopyChunkRequest{Token: old, Handle: 3, Version: 1, Source: "127.0.0.1:1", MaxSize: 1})
				return err
			},
			"revoke": func() error {
				_, err := c.RevokeLease(ctx, &chunkpb.RevokeLeaseRequest{Token: old, Handle: 1})
				return err
			},
			"forwarded write": func() error {
				st, err := c.Forward(ctx)
				if err != nil {
					return err
				}
				st.Send(&chunkpb.WriteRequest{Handle: 1, Version: 1, Length: 3, Token: old, Data: []byte("abc")})
				_, err = st.CloseAndRecv()
				return err
			},
		} {
			err := call()
			msg := status.Convert(err).Message()
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(msg, fmt.Sprintf("token %d", old)) ||
				!strings.Contains(msg, fmt.Sprintf("token %d", second.Token())) {
				t.Errorf("%s: %s under the old token %d: %v; want PERMISSION_DENIED naming tokens %d and %d", when, name, old, err, old, second.Token())
			}
		}
	}
	refused("running", c)
	cs.Close()
	cs2 := startCS(t, etcd, "cs1", dir)
	if cs2.Token() != second.Token() {
		t.Fatalf("after restart the chunkserver obeys token %d; want %d, read back from disk", cs2.Token(), second.Token())
	}
	refused("after restart", rawClient(t, cs2.Addr()))
	if info, _ := cs2.Store().Get(1); info.Version != 1 {
		t.Fatalf("chunk 1 at version %d after refused commands; want 1", info.Version)
	}
	if _, ok := cs2.Store().Get(2); ok {
		t.Fatal("a refused create left a replica")
	}
}

// TestSecondChunkserverOnSameDirFails: a second chunkserver on a directory
// in use fails at once, naming the directory and the holder.
func TestSecondChunkserverOnSameDirFails(t *testing.T) {
	e := embedetcd.StartT(t)
	etcd := embedetcd.ClientT(t, e)
	dir := t.TempDir()
	startCS(t, etcd, "cs1", dir)
	for _, id := range []string{"cs2", "cs1"} {
		_, err := Start(t.Context(), Config{ID: id, Dir: dir, Listen: "127.0.0.1:0", Etcd: etcd, Cluster: "t"})
		if !errors.Is(err, ErrDirInUse) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "chunkserver cs1") {
			t.Fatalf("second chunkserver %s on %s: %v; want ErrDirInUse naming the dir and cs1", id, dir, err)
		}
		t.Logf("%s: %v", id, err)
	}
}

// TestWriteNeedsLease: a write to a chunkserver without a live lease is
// refused; with one, it reaches the secondaries at the same offset.
func TestWriteNeedsLease(t *testing.T) {
	e := embedetcd.StartT(t)
	etcd := embedetcd.ClientT(t, e)
	p, s := startCS(t, etcd, "p", t.TempDir()), startCS(t, etcd, "s", t.TempDir())
	l := campaign(t, etcd, "127.0.0.1:1")
	tok := int64(l.Token())
	cp, csec := rawClient(t, p.Addr()), rawClient(t, s.Addr())
	ctx := t.Context()
	for _, c := range []chunkpb.ChunkserverClient{cp, csec} {
		if _, err := c.CreateChunk(ctx, &chunkpb.CreateChunkRequest{Token: tok, Handle: 5, Version: 1, MaxSize: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	write := func(off int64, data string) error {
		st, err := cp.Write(ctx)
		if err != nil {
			return err
		}
		st.Send(&chunkpb.WriteRequest{Handle: 5, Version: 1, Offset: off, Length: int64(len(data)), Data: []byte(data)})
		_, err = st.CloseAndRecv()
		return err
	}
	if err := write(0, "no lease"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("write without a lease: %v; want FAILED_PRECONDITION", err)
	}
	if _, err := cp.GrantLease(ctx, &chunkpb.GrantLeaseRequest{Token: tok, Handle: 5, Version: 1, DurationMs: 60000, Secondaries: []string{s.Addr()}}); err != nil {
		t.Fatal(err)
	}
	if err := write(0, "hello "); err != nil {
		t.Fatal(err)
	}
	if err := write(6, "world"); err != nil {
		t.Fatal(err)
	}
	for _, cs := range []*Server{p, s} {
		got, err := readAll(cs.Store(), 5, 1, 0, 100)
		if err != nil || string(got) != "hello world" {
			t.Fatalf("%s holds %q, %v; want \"hello world\"", cs.ID(), got, err)
		}
	}
	if _, err := cp.RevokeLease(ctx, &chunkpb.RevokeLeaseRequest{Token: tok, Handle: 5}); err != nil {
		t.Fatal(err)
	}
	if err := write(11, "!"); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("write after revoke: %v; want FAILED_PRECONDITION", err)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A chunkserver whose etcd refuses connections says so, and keeps trying,
// rather than log "started" and then nothing.
func TestUnreachableEtcdIsLoggedAndRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{dead}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := Start(ctx, Config{ID: "cs1", Dir: t.TempDir(), Listen: "127.0.0.1:0", Etcd: etcd, Cluster: "t",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(logs.String(), "etcd unreachable") {
		select {
		case <-wctx.Done():
			t.Fatalf("nothing logged about etcd within 30 s; log:\n%s", logs.String())
		case <-tick.C:
		}
	}
	if out := logs.String(); !strings.Contains(out, "connection refused") || !strings.Contains(out, dead) {
		t.Errorf("log does not say etcd at %s refused the connection:\n%s", dead, out)
	}
}
