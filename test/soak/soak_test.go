//go:build soak

// Package soak holds long runs that are not part of the default test run:
//
//	go test -tags soak -run TestSustainedWritesKeepEtcdBounded -timeout 30m -v ./test/soak/ -soak.duration 5m
package soak

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

var duration = flag.Duration("soak.duration", 5*time.Minute, "how long to write")

// TestSustainedWritesKeepEtcdBounded writes as fast as it can (creates and
// deletes, so the namespace stays small while the log grows without end)
// through a primary with a standby, with checkpoints, trimming and
// compaction on, and checks that etcd's database stops growing.
func TestSustainedWritesKeepEtcdBounded(t *testing.T) {
	srv, err := embedetcd.Start(t.Context(), embedetcd.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys := cluster.ForCluster("soak")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var nodes []*node.Node
	for _, id := range []string{"n1", "n2"} {
		n := node.New(node.Config{
			Client: c, Keys: keys, NodeID: id, Address: id, Logger: slog.New(slog.DiscardHandler),
			DataDir: t.TempDir(), CheckpointEntries: 500_000, CheckpointInterval: time.Second,
			TrimInterval: 2 * time.Second, Compact: true,
		})
		nodes = append(nodes, n)
		wg.Add(1)
		go func() { defer wg.Done(); n.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	var primary *node.Node
	deadline := time.Now().Add(30 * time.Second)
	for primary == nil && time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.Serving() {
				primary = n
			}
		}
		time.Sleep(10 * time.Millisecond) // startup poll, not a test condition
	}
	if primary == nil {
		t.Fatal("no primary")
	}

	var ops atomic.Int64
	wctx, stopWriters := context.WithTimeout(ctx, *duration)
	defer stopWriters()
	var ww sync.WaitGroup
	for w := range 512 {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := 0; wctx.Err() == nil; i++ {
				p := fmt.Sprintf("/w%d-%d", w, i%4)
				typ := meta.OpCreate
				if i%8 >= 4 {
					typ = meta.OpDelete
				}
				if _, err := primary.Propose(wctx, meta.Op{Type: typ, Path: p}); err == nil {
					ops.Add(1)
				}
			}
		}()
	}
	type sample struct {
		at     time.Duration
		dbSize int64
		ops    int64
	}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-wctx.Done():
			break loop
		case <-tick.C:
			st, err := c.Status(ctx, srv.Endpoint())
			if err != nil {
				t.Fatal(err)
			}
			s := sample{time.Since(start).Round(time.Second), st.DbSize, ops.Load()}
			samples = append(samples, s)
			t.Logf("%v: etcd db %.1f MiB (in use %.1f MiB), %d ops (%.0f/s), applied %d, standby ckpt %d",
				s.at, float64(st.DbSize)/(1<<20), float64(st.DbSizeInUse)/(1<<20), s.ops, float64(s.ops)/time.Since(start).Seconds(),
				primary.State().AppliedIndex(), nodes[0].Status().CheckpointIndex+nodes[1].Status().CheckpointIndex)
		}
	}
	ww.Wait()
	if len(samples) < 4 {
		t.Fatalf("only %d samples; run longer", len(samples))
	}
	half := len(samples) / 2
	var firstMax, secondMax int64
	for i, s := range samples {
		if i < half {
			firstMax = max(firstMax, s.dbSize)
		} else {
			secondMax = max(secondMax, s.dbSize)
		}
	}
	t.Logf("max db size: first half %.1f MiB, second half %.1f MiB; %d ops in %v", float64(firstMax)/(1<<20), float64(secondMax)/(1<<20), ops.Load(), *duration)
	if float64(secondMax) > 1.5*float64(firstMax) {
		t.Errorf("etcd's database kept growing: %.1f MiB in the first half, %.1f MiB in the second", float64(firstMax)/(1<<20), float64(secondMax)/(1<<20))
	}
}
