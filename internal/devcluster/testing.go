package devcluster

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/server"
)

// StartT starts a dev cluster of n masters for a test (free ports, no
// fsync, quiet logs), waits until one serves and the others campaign, and
// closes it at cleanup.
func StartT(t testing.TB, n int) *Cluster {
	t.Helper()
	cfg := config.Config{Cluster: "test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("DEVCLUSTER_LOG") != "" { // debugging a test: show the masters' logs
		logger = slog.Default()
	}
	dc, err := Start(ctx, Options{Base: cfg, Masters: n, Logger: logger, Dir: t.TempDir(), NoFsync: true, Chunkservers: -1})
	if err != nil {
		t.Fatalf("start dev cluster: %v", err)
	}
	t.Cleanup(dc.Close)
	dc.WaitStable(t)
	return dc
}

// WaitStable waits until exactly one master serves and every other one is
// a campaigning standby with no replay lag.
func (dc *Cluster) WaitStable(t testing.TB) *server.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		var primary *server.Server
		ready := true
		for _, m := range dc.Masters {
			switch {
			case m.Node.Serving():
				if primary != nil {
					ready = false
				}
				primary = m
			case !m.Node.CaughtUp() || m.Node.Role() != "candidate":
				ready = false
			}
		}
		if ready && primary != nil {
			return primary
		}
		select {
		case <-ctx.Done():
			t.Fatal("dev cluster did not settle: one primary and caught-up standbys")
			return nil
		case <-tick.C:
		}
	}
}

// Primary returns the serving master, or nil.
func (dc *Cluster) Primary() *server.Server {
	for _, m := range dc.Masters {
		if m.Node.Serving() {
			return m
		}
	}
	return nil
}

// WaitConverged waits until every master applied the same index and
// returns their digests, which must then be equal.
func (dc *Cluster) WaitConverged(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		idx := dc.Masters[0].Node.State().AppliedIndex()
		same := true
		for _, m := range dc.Masters[1:] {
			if m.Node.State().AppliedIndex() != idx {
				same = false
			}
		}
		if same {
			var ds []string
			for _, m := range dc.Masters {
				ds = append(ds, m.Node.State().Digest())
			}
			if dc.Masters[0].Node.State().AppliedIndex() == idx {
				return ds
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("masters did not converge on one applied index")
			return nil
		case <-tick.C:
		}
	}
}
