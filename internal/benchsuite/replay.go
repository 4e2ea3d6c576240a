package benchsuite

import (
	"context"
	"fmt"
	"time"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

// replay grows the engine's log to at least records records while no
// standby runs, then starts a standby (from nothing: no checkpoint) and
// times it until it has applied the whole log.
func (e *env) replay(ctx context.Context, eng *engine, clusterName string, records int) (Replay, error) {
	keys := cluster.ForCluster(clusterName).WAL()
	head, err := walship.ReadHead(ctx, e.c, keys)
	if err != nil {
		return Replay{}, err
	}
	if missing := records - int(head); missing > 0 {
		err := forEach(ctx, missing, eng.writers, func(ctx context.Context, i int) error {
			w := i % eng.writers
			return eng.propose(ctx, meta.Op{Type: meta.OpCreate, Path: fileOf("r", w, i)})
		})
		if err != nil {
			return Replay{}, fmt.Errorf("growing the log to %d records: %w", records, err)
		}
	}
	if head, err = walship.ReadHead(ctx, e.c, keys); err != nil {
		return Replay{}, err
	}

	start := time.Now()
	standby, err := startOwnMaster(e.etcd, clusterName, "n2", nil)
	if err != nil {
		return Replay{}, err
	}
	defer standby.stop()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	err = poll(wctx, 2*time.Millisecond, func() bool { return standby.State().AppliedIndex() >= head })
	took := time.Since(start)
	if err != nil {
		return Replay{}, fmt.Errorf("standby applied %d of %d records: %w", standby.State().AppliedIndex(), head, err)
	}
	return Replay{EntriesPerS: float64(head) / took.Seconds(), Entries: head, Ms: ms(took)}, nil
}
