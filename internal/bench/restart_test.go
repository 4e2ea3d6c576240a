package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gfsha/master/internal/checkpoint"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

// BenchmarkRestart1M times a master's restart to serving with 1 M files
// (each with one chunk) in its newest checkpoint: load, replay of the tail,
// campaign, first write.
func BenchmarkRestart1M(b *testing.B) {
	srv := sharedEtcd(b)
	c, err := srv.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	name := newClusterName()
	keys := cluster.ForCluster(name)
	dir := b.TempDir()

	st := meta.New()
	idx := uint64(0)
	for d := range 1000 {
		idx++
		st.Apply(idx, meta.Op{Type: meta.OpMkdir, Path: fmt.Sprintf("/d%d", d)})
		for f := range 1000 {
			p := fmt.Sprintf("/d%d/f%d", d, f)
			idx++
			st.Apply(idx, meta.Op{Type: meta.OpCreate, Path: p})
			idx++
			st.Apply(idx, meta.Op{Type: meta.OpAddChunk, Path: p})
		}
	}
	store, err := checkpoint.Open(filepath.Join(dir, "checkpoints"), 2, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.Save(st, 1); err != nil {
		b.Fatal(err)
	}
	// The log in etcd was trimmed up to the checkpoint.
	w := keys.WAL()
	if _, err := c.Put(context.Background(), w.Head(), fmt.Sprintf("%020d", idx)); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Put(context.Background(), w.First(), fmt.Sprintf("%020d", idx+1)); err != nil {
		b.Fatal(err)
	}
	st = nil

	b.ResetTimer()
	for range b.N {
		n := node.New(node.Config{Client: c, Keys: keys, NodeID: "n1", Address: "-", DataDir: dir,
			CheckpointInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		promoted := n.Promoted()
		start := time.Now()
		go func() { defer close(done); n.Run(ctx) }()
		select {
		case <-promoted:
		case <-time.After(60 * time.Second):
			b.Fatal("restarted node did not serve")
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-to-serving")
		if got := n.State().Files(); got != 1_000_000 {
			b.Fatalf("restored %d files; want 1000000", got)
		}
		b.StopTimer()
		cancel()
		<-done
		b.StartTimer()
	}
}
