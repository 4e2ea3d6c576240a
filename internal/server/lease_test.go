package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/faultproxy"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

// leaseTTL keeps the lease tests short; what they assert is an order of
// events, so a slower machine makes them longer, never wrong.
const leaseTTL = 5 * time.Second

// startLeaseMaster starts master id on etcdEndpoint with a short lease.
func startLeaseMaster(t *testing.T, dir, id, etcdEndpoint string) *Server {
	t.Helper()
	return startLeaseMasterChunks(t, dir, id, etcdEndpoint, chunkmaster.Config{})
}

// startLeaseMasterChunks is startLeaseMaster with a data-path configuration.
func startLeaseMasterChunks(t *testing.T, dir, id, etcdEndpoint string, cc chunkmaster.Config) *Server {
	t.Helper()
	cfg := masterConfig(dir, etcdEndpoint)
	cfg.NodeID = id
	cfg.DataDir = filepath.Join(dir, id)
	cfg.Election.LeaseTTL = leaseTTL
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), Chunk: cc})
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitFor polls cond (bounded, generously) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestOldPrimaryAnswersNothingOnceNewPrimaryAcknowledged is issue 10's
// reproduction at the level of a whole master: the primary's answers from
// etcd are delayed (2 s), then its requests to etcd are cut; etcd expires
// its lease, the standby wins and acknowledges `create /x`. From then on
// the old primary answers no read of any kind (Node.Read, ReadConfirmed,
// the Stat RPC, the chunk master's Locate and a chunkserver's heartbeat)
// and says it is not primary (/primary, Serving). A reader probing the
// old primary the whole time never gets an answer it started after the
// acknowledgement.
func TestOldPrimaryAnswersNothingOnceNewPrimaryAcknowledged(t *testing.T) {
	dir := t.TempDir()
	etcd := embedetcd.StartT(t)
	p1 := faultproxy.Start(t, "n1→etcd", etcd.Endpoint())
	n1 := startLeaseMaster(t, dir, "n1", p1.Addr())
	t.Cleanup(p1.Heal) // before n1 closes: its shutdown talks to etcd
	waitFor(t, "n1 serves", n1.Node.Serving)
	n2 := startLeaseMaster(t, dir, "n2", etcd.Endpoint())
	waitFor(t, "n2 is a caught-up standby", n2.Node.CaughtUp)
	oldToken := n1.Node.Status().Token

	// The prober: Node.Read on the old primary, all along.
	var (
		mu       sync.Mutex // guards ackedAt and violation
		ackedAt  time.Time
		violated string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			started := time.Now()
			var e meta.Entry
			err := n1.Node.Read(func(st *meta.State) error {
				var err error
				e, err = st.Stat("/x")
				return err
			})
			mu.Lock()
			if !ackedAt.IsZero() && started.After(ackedAt) && !errors.Is(err, node.ErrNotPrimary) && violated == "" {
				violated = "Node.Read(Stat /x) started after the acknowledgement answered " + e.Path + " " + errString(err)
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })

	// The fault: answers late, then the requests cut.
	p1.Delay(faultproxy.FromUpstream, 2*time.Second)
	time.Sleep(leaseTTL / 2) // the fault acts for a while: renewals go on, answered late
	p1.HoldDirection(faultproxy.ToUpstream)

	// The standby wins once etcd expires n1's lease, and acknowledges.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for {
		r, err := n2.Node.Propose(ctx, meta.Op{Type: meta.OpCreate, Path: "/x"})
		if err == nil && r.Err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("n2 never acknowledged create /x: %v %v", err, r.Err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	acked := time.Now()
	mu.Lock()
	ackedAt = acked
	mu.Unlock()
	if tok := n2.Node.Status().Token; tok <= oldToken {
		t.Fatalf("n2 acknowledged under token %d, not above n1's %d", tok, oldToken)
	}

	// Every kind of read and leader-only answer, on the old primary.
	var e meta.Entry
	if err := n1.Node.Read(func(st *meta.State) error { var err error; e, err = st.Stat("/x"); return err }); !errors.Is(err, node.ErrNotPrimary) {
		t.Errorf("old primary's Node.Read(Stat /x) after the acknowledgement = %q, %v; want ErrNotPrimary", e.Path, err)
	}
	rctx, rcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer rcancel()
	if err := n1.Node.ReadConfirmed(rctx, func(st *meta.State) error { var err error; e, err = st.Stat("/x"); return err }); err == nil || errors.Is(err, meta.ErrNotFound) {
		t.Errorf("old primary's ReadConfirmed(Stat /x) after the acknowledgement = %q, %v; want a refusal", e.Path, err)
	}
	if n1.Node.Serving() || !n1.Node.ServingUntil().IsZero() {
		t.Errorf("old primary: Serving() = %v, ServingUntil() = %v after the acknowledgement; want false and zero", n1.Node.Serving(), n1.Node.ServingUntil())
	}
	cc := rpcConn(t, n1.RPCAddr())
	if got, err := masterpb.NewMasterClient(cc).Stat(rctx, &masterpb.StatRequest{Path: "/x"}); err == nil {
		t.Errorf("old primary's Stat RPC after the acknowledgement answered %v; want a refusal", got)
	}
	if got, err := chunkpb.NewChunkMasterClient(cc).Locate(rctx, &chunkpb.LocateRequest{Path: "/x"}); err == nil {
		t.Errorf("old primary's Locate after the acknowledgement answered %v; want a refusal", got)
	}
	if got, err := chunkpb.NewChunkMasterClient(cc).Heartbeat(rctx, &chunkpb.HeartbeatRequest{Id: "cs-probe", Address: "127.0.0.1:1", Token: oldToken, Full: true}); err == nil {
		t.Errorf("old primary answered a chunkserver's heartbeat after the acknowledgement: %v; want a refusal", got)
	}
	resp, err := http.Get("http://" + n1.HTTPAddr() + "/primary")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("old primary's /primary after the acknowledgement = %d; want 503", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if violated != "" {
		t.Error(violated)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
