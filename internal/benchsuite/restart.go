package benchsuite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/gfsha/master/internal/checkpoint"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

// saveCheckpoint writes st as the newest checkpoint of a master whose data
// directory is dataDir.
func saveCheckpoint(st *meta.State, dataDir string) error {
	store, err := checkpoint.Open(filepath.Join(dataDir, "checkpoints"), 2, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	_, err = store.Save(st, 1)
	return err
}

// restarts times, runs times, a master whose data directory holds a
// checkpoint of files files (at index index) from start to serving: load,
// replay of the tail, campaign, first write. The log in etcd is set up as
// trimmed up to the checkpoint.
func (e *env) restarts(ctx context.Context, clusterName, dataDir string, index uint64, files, runs int) (Restart, error) {
	w := cluster.ForCluster(clusterName).WAL()
	if _, err := e.c.Put(ctx, w.Head(), fmt.Sprintf("%020d", index)); err != nil {
		return Restart{}, err
	}
	if _, err := e.c.Put(ctx, w.First(), fmt.Sprintf("%020d", index+1)); err != nil {
		return Restart{}, err
	}
	var took []time.Duration
	for range runs {
		start := time.Now()
		m, err := startOwnMaster(e.etcd, clusterName, "n1", func(c *node.Config) {
			c.DataDir = dataDir
			c.CheckpointInterval = time.Hour
		})
		if err != nil {
			return Restart{}, err
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = waitServing(wctx, m.Node)
		cancel()
		d := time.Since(start)
		got := m.State().Files()
		m.stop()
		if err != nil {
			return Restart{}, err
		}
		if got != files {
			return Restart{}, fmt.Errorf("benchsuite: restarted master holds %d files; want %d", got, files)
		}
		took = append(took, d)
	}
	slices.Sort(took)
	return Restart{Files: files, Ms: percentileMs(took, 0.5), Runs: runs}, nil
}
