package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/ctl"
)

// Kinds of leadership change.
const (
	KindSwitchover = "switchover"
	KindFailover   = "failover"
)

// Options configure a drill.
type Options struct {
	Cluster string
	Client  *client.Client
	Count   int      // rounds (at least 1)
	Kinds   []string // taken in turn; default switchover, failover
	Workers int      // concurrent workload goroutines (default 4)
	// Timeout bounds each change's wait for the new primary (default 30 s).
	Timeout time.Duration
	// Progress, if set, gets one line per round.
	Progress io.Writer
}

// Report is `ctl drill -o json`.
type Report struct {
	Rounds             []Round               `json:"rounds"`
	Unavailability     map[string]Percentile `json:"unavailability"`
	Operations         int                   `json:"operations"`
	AcknowledgedWrites int                   `json:"acknowledged_writes"`
	UnknownWrites      int                   `json:"unknown_writes"`
	Lost               []string              `json:"lost"`
	Linearizable       bool                  `json:"linearizable"`
	Dir                string                `json:"dir"`
}

// Round is one leadership change.
type Round struct {
	Kind            string  `json:"kind"`
	From            string  `json:"from"`
	To              string  `json:"to"`
	ChangeMs        float64 `json:"change_ms"`      // the command: revoke or hand-over to the new primary serving
	UnavailableMs   float64 `json:"unavailable_ms"` // longest gap between acknowledged writes around it
	AcknowledgedOps int     `json:"acknowledged_ops"`
}

// Percentile summarises one kind's unavailability, in milliseconds.
type Percentile struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Passed reports whether nothing acknowledged was lost and the history was
// linearizable.
func (r Report) Passed() bool { return len(r.Lost) == 0 && r.Linearizable }

// Errors.
var (
	// ErrNotReady: the cluster has no primary or no standby to change to.
	ErrNotReady = errors.New("drill: cluster not ready")
	// ErrFailed: a lost write or a non-linearizable history.
	ErrFailed = errors.New("drill: failed")
)

// recorder keeps the history and the acknowledgement times.
type recorder struct {
	start time.Time
	mu    sync.Mutex // guards the fields below
	ops   []porcupine.Operation
	acks  []time.Duration // since start, of acknowledged writes
	acked []string        // files whose create was acknowledged
	unk   []int           // indexes in ops of unknown creates
}

func (r *recorder) now() int64 { return int64(time.Since(r.start)) }

func (r *recorder) add(op porcupine.Operation, ackedFile string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if op.Output == outUnknown {
		r.unk = append(r.unk, len(r.ops))
	}
	r.ops = append(r.ops, op)
	if ackedFile != "" {
		r.acks = append(r.acks, time.Duration(op.Return))
		r.acked = append(r.acked, ackedFile)
	}
}

// Run runs the drill. It returns the report, and an error wrapping
// ErrFailed when the report shows a lost write or a non-linearizable
// history, or another error when the drill could not run.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Count < 1 {
		o.Count = 1
	}
	if len(o.Kinds) == 0 {
		o.Kinds = []string{KindSwitchover, KindFailover}
	}
	for _, k := range o.Kinds {
		if k != KindSwitchover && k != KindFailover {
			return Report{}, fmt.Errorf("drill: kind %q: use switchover or failover", k)
		}
	}
	if o.Workers < 1 {
		o.Workers = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	etcd := o.Client.Etcd()
	if _, err := waitReady(ctx, etcd, o.Cluster, o.Timeout); err != nil {
		return Report{}, err
	}
	rep := Report{Dir: fmt.Sprintf("/.drill-%d", time.Now().UnixNano()), Unavailability: map[string]Percentile{}, Lost: []string{}}
	if err := o.Client.Mkdir(ctx, rep.Dir); err != nil {
		return rep, fmt.Errorf("drill: mkdir %s: %w", rep.Dir, err)
	}
	rec := &recorder{start: time.Now()}
	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range o.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); work(wctx, o.Client, rec, rep.Dir, w) }()
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopWork()
			wg.Wait()
		}
	}
	defer stop()

	waitAcks(ctx, rec, 20) // the workload runs before the first change
	var runErr error
	for i := range o.Count {
		kind := o.Kinds[i%len(o.Kinds)]
		st, err := waitReady(ctx, etcd, o.Cluster, o.Timeout)
		if err != nil {
			runErr = err
			break
		}
		round := Round{Kind: kind, From: st.Primary}
		before := time.Duration(rec.now())
		t0 := time.Now()
		switch kind {
		case KindSwitchover:
			var r ctl.SwitchoverReport
			r, err = ctl.Switchover(ctx, etcd, o.Cluster, st.Shadow, o.Client.Conn, o.Timeout)
			round.To = r.To
		case KindFailover:
			var r ctl.FailoverReport
			r, err = ctl.Failover(ctx, etcd, o.Cluster, "", o.Timeout)
			round.To = r.NewPrimary
		}
		round.ChangeMs = ms(time.Since(t0))
		if err != nil {
			runErr = fmt.Errorf("drill: round %d (%s from %s): %w", i+1, kind, st.Primary, err)
			break
		}
		// Writes resume: wait for a few acknowledgements after the change.
		n := ackCount(rec)
		waitAcks(ctx, rec, n+2*o.Workers)
		round.UnavailableMs, round.AcknowledgedOps = gap(rec, before)
		rep.Rounds = append(rep.Rounds, round)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "round %d/%d: %s %s -> %s: change %.1f ms, writes unavailable %.1f ms\n",
				i+1, o.Count, kind, round.From, round.To, round.ChangeMs, round.UnavailableMs)
		}
	}
	stop()
	if ctx.Err() != nil && runErr == nil {
		runErr = ctx.Err()
	}

	// Verification: every acknowledged create is there (fresh context:
	// the drill's own may have run out).
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*o.Timeout)
	defer cancel()
	rec.mu.Lock()
	acked := slices.Clone(rec.acked)
	rec.mu.Unlock()
	for _, f := range acked {
		if _, err := o.Client.Stat(vctx, f); err != nil {
			if errors.Is(err, client.ErrNotFound) {
				rep.Lost = append(rep.Lost, f)
				continue
			}
			return rep, fmt.Errorf("drill: verify %s: %w", f, err)
		}
	}
	rec.mu.Lock()
	end := rec.now()
	for _, i := range rec.unk {
		rec.ops[i].Return = end + 1 // maybe applied: any time after its call
	}
	ops := rec.ops
	rec.mu.Unlock()
	rep.Operations, rep.AcknowledgedWrites, rep.UnknownWrites = len(ops), len(acked), len(rec.unk)
	res := porcupine.CheckOperationsTimeout(model, ops, 60*time.Second)
	rep.Linearizable = res == porcupine.Ok
	byKind := map[string][]float64{}
	for _, r := range rep.Rounds {
		byKind[r.Kind] = append(byKind[r.Kind], r.UnavailableMs)
	}
	for k, v := range byKind {
		rep.Unavailability[k] = percentiles(v)
	}
	if runErr != nil {
		return rep, runErr
	}
	if !rep.Passed() {
		return rep, fmt.Errorf("%w: %d acknowledged writes lost, linearizable %v (porcupine: %s)", ErrFailed, len(rep.Lost), rep.Linearizable, res)
	}
	return rep, nil
}

// work creates fresh files and stats ones created before, recording each.
func work(ctx context.Context, c *client.Client, rec *recorder, dir string, w int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
	for i := 0; ctx.Err() == nil; i++ {
		rec.mu.Lock()
		n := len(rec.acked)
		f := ""
		if n > 0 {
			f = rec.acked[rng.IntN(n)] // any worker's: reads cross clients
		}
		rec.mu.Unlock()
		if f != "" && rng.IntN(2) == 0 {
			call := rec.now()
			octx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := c.Stat(octx, f)
			cancel()
			out := outExists
			switch {
			case err == nil:
			case errors.Is(err, client.ErrNotFound):
				out = outMissing
			default:
				continue // a failed read says nothing
			}
			rec.add(porcupine.Operation{ClientId: w, Input: input{File: f, Kind: kindStat}, Call: call, Output: out, Return: rec.now()}, "")
			continue
		}
		f = fmt.Sprintf("%s/w%d-%d", dir, w, i)
		call := rec.now()
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.Create(octx, f)
		cancel()
		out, acked := outOK, f
		switch {
		case err == nil:
		case errors.Is(err, client.ErrExists):
			out, acked = outExists, ""
		default:
			out, acked = outUnknown, ""
		}
		rec.add(porcupine.Operation{ClientId: w, Input: input{File: f, Kind: kindCreate}, Call: call, Output: out, Return: rec.now()}, acked)
	}
}

func ackCount(rec *recorder) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.acks)
}

// waitAcks waits until n writes were acknowledged (or ctx ends).
func waitAcks(ctx context.Context, rec *recorder, n int) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for ackCount(rec) < n {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// gap is the longest interval between consecutive acknowledgements from
// the last one before `before` to the newest, and how many there were.
func gap(rec *recorder, before time.Duration) (float64, int) {
	rec.mu.Lock()
	acks := slices.Clone(rec.acks)
	rec.mu.Unlock()
	slices.Sort(acks)
	i := sort.Search(len(acks), func(i int) bool { return acks[i] >= before })
	if i > 0 {
		i--
	}
	var worst time.Duration
	for j := i + 1; j < len(acks); j++ {
		worst = max(worst, acks[j]-acks[j-1])
	}
	return ms(worst), len(acks) - i
}

// waitReady waits until the cluster has a primary and a caught-up standby.
func waitReady(ctx context.Context, c *clientv3.Client, name string, bound time.Duration) (ctl.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last ctl.Report
	for {
		st, err := ctl.Status(ctx, c, name)
		if err == nil {
			last = st
			if st.Primary != "" && st.Shadow != "" && !st.Paused && st.WALLagEntries == 0 && primaryServing(st) {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("%w: no serving primary with a caught-up standby within %v (primary %q, shadow %q, paused %v); see `master ctl status`",
				ErrNotReady, bound, last.Primary, last.Shadow, last.Paused)
		case <-tick.C:
		}
	}
}

func primaryServing(st ctl.Report) bool {
	for _, m := range st.Members {
		if m.NodeID == st.Primary {
			return m.Role == "primary"
		}
	}
	return false
}

func percentiles(v []float64) Percentile {
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.5) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Percentile{Count: len(s), P50: at(0.5), P99: at(0.99), Max: s[len(s)-1]}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
