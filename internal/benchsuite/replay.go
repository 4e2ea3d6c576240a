package benchsuite

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/walship"
)

// replay grows the engine's log to at least records records while no
// standby runs, then, runs times, starts a standby (from nothing: no
// checkpoint) and times it until it has applied the whole log. The median
// run is the figure.
func (e *env) replay(ctx context.Context, eng *engine, clusterName string, records, runs int) (Replay, error) {
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
	// Each master is a process of its own: the primary's namespace must not
	// share the standby's heap here, where it would double the collector's
	// work. The primary stops, and a bare election holder keeps the standby
	// a standby.
	eng.stop()
	eng.master.Node = nil
	holder, err := holdElection(ctx, e.c, clusterName)
	if err != nil {
		return Replay{}, err
	}
	defer holder.release()
	runtime.GC()

	var took []time.Duration
	for range runs {
		d, err := e.replayOnce(ctx, clusterName, head)
		if err != nil {
			return Replay{}, err
		}
		took = append(took, d)
	}
	slices.Sort(took)
	med := took[(len(took)-1)/2]
	return Replay{
		EntriesPerS: float64(head) / med.Seconds(), Entries: head, Ms: ms(med), Runs: runs,
		MinMs: ms(took[0]), MaxMs: ms(took[len(took)-1]),
	}, nil
}

// replayOnce starts a standby from nothing and times it until it has
// applied head records; it is stopped before returning.
func (e *env) replayOnce(ctx context.Context, clusterName string, head uint64) (time.Duration, error) {
	start := time.Now()
	standby, err := startOwnMaster(e.etcd, clusterName, "n2", nil)
	if err != nil {
		return 0, err
	}
	defer standby.stop()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// Polled, not watched: the state's lock is the one replay takes, and a
	// tight poll would slow the very replay it times.
	err = poll(wctx, 2*time.Millisecond, func() bool { return standby.State().AppliedIndex() >= head })
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("standby applied %d of %d records: %w", standby.State().AppliedIndex(), head, err)
	}
	return took, nil
}

// holder holds a cluster's election without being a master.
type holder struct {
	s *election.Session
	l *election.Leadership
}

// holdElection campaigns in the named cluster's election, as "bench-holder",
// and returns once it leads.
func holdElection(ctx context.Context, c *clientv3.Client, clusterName string) (*holder, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := election.NewSession(cctx, c, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("benchsuite: election holder: %w", err)
	}
	val := cluster.LeaderValue{NodeID: "bench-holder", Address: "-"}
	l, err := election.Campaign(cctx, s, cluster.ForCluster(clusterName).Election(), val.Encode())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("benchsuite: election holder: %w", err)
	}
	return &holder{s: s, l: l}, nil
}

// release resigns and ends the holder's session.
func (h *holder) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.l.Resign(ctx)
	h.s.Close()
}
