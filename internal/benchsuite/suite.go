package benchsuite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Run measures everything o asks for (see the package doc for the order)
// and returns the figures with each target marked. It stops, cleaning up,
// when ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	dir, err := os.MkdirTemp(o.Dir, "gfsha-bench-")
	if err != nil {
		return nil, fmt.Errorf("benchsuite: scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	res := &Result{Run: RunInfo{Size: o.Name, Fsync: !o.NoFsync, CPUs: runtime.NumCPU(), LoadBefore: loadAverage()}}

	// Memory first, before etcd and the masters add to the heap; the same
	// namespace is then the restart figure's checkpoint.
	o.progress("memory: building %d files with one chunk each", o.Files)
	mem, st, err := memory(o.Files)
	if err != nil {
		return nil, err
	}
	res.Memory = mem
	o.progress("scan: reading %d chunk versions as the chunk master's replica scan does", o.Files)
	if res.Scan, err = walk(st); err != nil {
		return nil, err
	}
	restartDir := filepath.Join(dir, "restart")
	index := st.AppliedIndex()
	if err := saveCheckpoint(st, restartDir); err != nil {
		return nil, err
	}
	st = nil
	runtime.GC()

	e, err := startEnv(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	defer e.Close()

	if err := e.writes(ctx, res); err != nil {
		return nil, err
	}
	if err := e.reads(ctx, res); err != nil {
		return nil, err
	}
	o.progress("failover: %d revokes between two masters", o.Failovers)
	if res.Failover, err = e.failovers(ctx, "failover", o.Failovers); err != nil {
		return nil, fmt.Errorf("benchsuite: failover: %w", err)
	}
	o.progress("restart: %d file(s) from a checkpoint, %d run(s)", o.Files, max(o.Restarts, 1))
	if res.Restart, err = e.restarts(ctx, "restart", restartDir, index, o.Files, max(o.Restarts, 1)); err != nil {
		return nil, fmt.Errorf("benchsuite: restart: %w", err)
	}
	res.Run.TotalS = time.Since(began).Seconds()
	res.Targets = targets(res)
	return res, nil
}

// writes fills the write, sweep and replay figures: the engine's log is the
// one the standby replays.
func (e *env) writes(ctx context.Context, res *Result) error {
	o := e.o
	eng, err := e.startEngine(ctx, "engine", o.Writers)
	if err != nil {
		return fmt.Errorf("benchsuite: engine: %w", err)
	}
	defer eng.stop()
	levels := slices.Clone(o.SweepLevels)
	slices.Sort(levels)
	levels = slices.Compact(levels)
	rpc, err := e.startRPC(ctx, "rpc", max(o.Writers, slices.Max(append(levels, 0))))
	if err != nil {
		return fmt.Errorf("benchsuite: RPC: %w", err)
	}
	defer rpc.Close()

	var put, el, rl Load
	seg := o.WriteDuration / time.Duration(o.WriteRounds)
	for round := range o.WriteRounds {
		o.progress("write: round %d of %d: etcd put, engine creates, RPC creates; %d writers, %v each",
			round+1, o.WriteRounds, o.Writers, seg)
		tag := strconv.Itoa(round) + "-"
		l, err := e.etcdPuts(ctx, o.Writers, o.WriteWarmup, seg)
		if err != nil {
			return fmt.Errorf("benchsuite: etcd put: %w", err)
		}
		put = put.Add(l)
		if l, err = eng.creates(ctx, o.WriteWarmup, seg, "e"+tag); err != nil {
			return fmt.Errorf("benchsuite: engine creates: %w", err)
		}
		el = el.Add(l)
		if l, err = rpc.creates(ctx, o.Writers, o.WriteWarmup, seg, "h"+tag); err != nil {
			return fmt.Errorf("benchsuite: RPC creates: %w", err)
		}
		rl = rl.Add(l)
	}
	w := Write{
		Writers: o.Writers, RPCClients: rpcClients,
		OpsPerS: rl.OpsPerS(), P50Ms: rl.PercentileMs(0.5), P99Ms: rl.PercentileMs(0.99),
		EngineOpsPerS: el.OpsPerS(), EngineP50Ms: el.PercentileMs(0.5), EngineP99Ms: el.PercentileMs(0.99),
		EtcdPutOpsPerS: put.OpsPerS(), EtcdPutP50Ms: put.PercentileMs(0.5), EtcdPutP99Ms: put.PercentileMs(0.99),
	}
	res.Write = w

	for _, n := range levels {
		if n == o.Writers {
			res.Sweep = append(res.Sweep, SweepPoint{Writers: n, OpsPerS: w.OpsPerS, P50Ms: w.P50Ms, P99Ms: w.P99Ms})
			continue
		}
		o.progress("write: RPC creates, %d writers, %v", n, o.SweepDuration)
		l, err := rpc.creates(ctx, n, o.WriteWarmup, o.SweepDuration, "s"+strconv.Itoa(n)+"-")
		if err != nil {
			return fmt.Errorf("benchsuite: RPC creates at %d writers: %w", n, err)
		}
		res.Sweep = append(res.Sweep, SweepPoint{Writers: n, OpsPerS: l.OpsPerS(), P50Ms: l.PercentileMs(0.5), P99Ms: l.PercentileMs(0.99)})
	}
	rpc.Close()

	o.progress("replay: a standby started from nothing replays at least %d records, %d run(s)", o.ReplayRecords, max(o.ReplayRuns, 1))
	if res.Replay, err = e.replay(ctx, eng, "engine", o.ReplayRecords, max(o.ReplayRuns, 1)); err != nil {
		return fmt.Errorf("benchsuite: replay: %w", err)
	}
	return nil
}

// loadAverage is the 1-minute load average, or 0 where /proc/loadavg is
// not.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b) + " 0")[0], 64)
	return f
}
