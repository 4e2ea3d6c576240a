package benchsuite

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/server"
)

// CurveOptions size `master bench --curve`.
type CurveOptions struct {
	// Levels are the concurrencies C: C goroutines share one client.Client
	// (ours) or one etcd client (etcd's).
	Levels []int
	// Rounds is how many times every (C, workload) pair is measured, the
	// four workloads of one C taken in turn in each round, so that the
	// machine's other load weighs on ours and etcd's alike.
	Rounds int
	// Duration is one measurement; Warmup runs before it, not counted.
	Duration time.Duration
	Warmup   time.Duration
	// NoFsync turns etcd's fsync off: tests only.
	NoFsync bool
	// Dir holds etcd's data; empty means a temporary directory.
	Dir string
	// Progress, if set, is told what runs.
	Progress io.Writer
}

// DefaultCurve is the size of `master bench --curve`: about two minutes.
func DefaultCurve() CurveOptions {
	return CurveOptions{Levels: []int{1, 16, 64, 256, 1024}, Rounds: 3, Duration: 1500 * time.Millisecond, Warmup: 200 * time.Millisecond}
}

func (o CurveOptions) validate() error {
	switch {
	case len(o.Levels) == 0:
		return fmt.Errorf("benchsuite: curve Levels empty: list at least one concurrency")
	case o.Rounds < 1:
		return fmt.Errorf("benchsuite: curve Rounds %d: need at least 1", o.Rounds)
	case o.Duration <= 0:
		return fmt.Errorf("benchsuite: curve Duration %v: need a positive duration", o.Duration)
	}
	for _, l := range o.Levels {
		if l < 1 {
			return fmt.Errorf("benchsuite: curve Levels %v: every level needs at least 1 goroutine", o.Levels)
		}
	}
	return nil
}

func (o CurveOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
	}
}

// Figures are one workload's rate and latency over all its rounds.
type Figures struct {
	Ops     int     `json:"ops"`
	OpsPerS float64 `json:"ops_per_s"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
}

func figuresOf(l Load) Figures {
	return Figures{Ops: l.Ops, OpsPerS: l.OpsPerS(), P50Ms: l.PercentileMs(0.5), P99Ms: l.PercentileMs(0.99)}
}

// CurvePoint is the four workloads at one concurrency C.
type CurvePoint struct {
	C int `json:"c"`
	// Create: client.Create through the public client; Put: plain etcd
	// puts of a create-sized value.
	Create Figures `json:"create"`
	Put    Figures `json:"etcd_put"`
	// Stat: client.Stat (linearizable); Get: linearizable etcd gets.
	Stat Figures `json:"stat"`
	Get  Figures `json:"etcd_get"`
	// CreateX and StatX are Create/Put and Stat/Get.
	CreateX float64 `json:"create_x"`
	StatX   float64 `json:"stat_x"`
	// CreateWant and StatWant are issue 15's targets at this C (0: none).
	CreateWant float64 `json:"create_want"`
	StatWant   float64 `json:"stat_want"`
}

// CreateMet and StatMet say whether the point meets its targets (true
// where there is none).
func (p CurvePoint) CreateMet() bool { return p.CreateX >= p.CreateWant }
func (p CurvePoint) StatMet() bool   { return p.StatX >= p.StatWant }

// CurveResult is what `master bench --curve -o json` prints.
type CurveResult struct {
	Points []CurvePoint `json:"points"`
	Run    RunInfo      `json:"run"`
	Rounds int          `json:"rounds"`
}

// createTarget and statTarget are issue 15's targets: ours per etcd's at C.
func createTarget(c int) float64 {
	switch {
	case c >= 256:
		return 8
	case c >= 64:
		return 4
	case c >= 16:
		return 2
	default:
		return 0.8
	}
}

func statTarget(c int) float64 {
	switch c {
	case 1:
		return 0.9
	case 64:
		return 3
	}
	return 0
}

// Curve measures creates and linearizable stats through the public client,
// C goroutines sharing one client.Client against two in-process masters
// (a primary and a standby, as `master serve` runs them), beside etcd puts
// and linearizable gets from C goroutines sharing one etcd client, on the
// same embedded etcd (fsync on), at each of o.Levels, in interleaved
// rounds.
func Curve(ctx context.Context, o CurveOptions) (*CurveResult, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	began := time.Now()
	dir, err := os.MkdirTemp(o.Dir, "gfsha-curve-")
	if err != nil {
		return nil, fmt.Errorf("benchsuite: scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	res := &CurveResult{Rounds: o.Rounds, Run: RunInfo{Size: "curve", Fsync: !o.NoFsync, CPUs: runtime.NumCPU(), LoadBefore: loadAverage()}}
	e, err := startEnv(ctx, Options{NoFsync: o.NoFsync}, dir)
	if err != nil {
		return nil, err
	}
	defer e.Close()

	levels := slices.Clone(o.Levels)
	slices.Sort(levels)
	levels = slices.Compact(levels)
	top := levels[len(levels)-1]

	var servers []*server.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for _, id := range []string{"n1", "n2"} {
		cfg := config.Config{Cluster: "curve", NodeID: id, Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
		cfg.Etcd.Endpoints = []string{e.etcd.Endpoint()}
		cfg.Etcd.DialTimeout = 5 * time.Second
		cfg.Election.LeaseTTL = 10 * time.Second
		srv, err := server.Start(ctx, server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, fmt.Errorf("benchsuite: curve master %s: %w", id, err)
		}
		servers = append(servers, srv)
		if id == "n1" {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := waitServing(wctx, srv.Node)
			cancel()
			if err != nil {
				return nil, err
			}
		}
	}
	cl, err := client.New(ctx, client.Config{Endpoints: []string{e.etcd.Endpoint()}, Cluster: "curve"})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if err := forEach(ctx, top, dirConcurrency, func(ctx context.Context, w int) error {
		return cl.Mkdir(ctx, dirOf(w))
	}); err != nil {
		return nil, fmt.Errorf("benchsuite: curve directories: %w", err)
	}
	val := curvePutValue()
	if _, err := e.c.Put(ctx, "/bench-get", val); err != nil {
		return nil, err
	}

	type acc struct{ create, put, stat, get Load }
	accs := make([]acc, len(levels))
	for round := range o.Rounds {
		for li, c := range levels {
			o.progress("curve: round %d of %d, C=%d: etcd put, create, etcd get, stat, %v each", round+1, o.Rounds, c, o.Duration)
			tag := "c" + strconv.Itoa(round) + "-" + strconv.Itoa(c) + "-"
			a := &accs[li]
			runs := []struct {
				into *Load
				op   Op
			}{
				{&a.put, func(ctx context.Context, _, i int) error {
					_, err := e.c.Put(ctx, "/bench-put/"+strconv.Itoa(i), val)
					return err
				}},
				{&a.create, func(ctx context.Context, w, i int) error { return cl.Create(ctx, fileOf(tag, w, i)) }},
				{&a.get, func(ctx context.Context, _, _ int) error {
					_, err := e.c.Get(ctx, "/bench-get")
					return err
				}},
				{&a.stat, func(ctx context.Context, w, _ int) error {
					_, err := cl.Stat(ctx, dirOf(w))
					return err
				}},
			}
			for _, r := range runs {
				l, err := Drive(ctx, c, o.Warmup, o.Duration, r.op)
				if err != nil {
					return nil, fmt.Errorf("benchsuite: curve at C=%d: %w", c, err)
				}
				*r.into = r.into.Add(l)
			}
		}
	}
	for li, c := range levels {
		a := accs[li]
		p := CurvePoint{C: c, Create: figuresOf(a.create), Put: figuresOf(a.put), Stat: figuresOf(a.stat), Get: figuresOf(a.get),
			CreateWant: createTarget(c), StatWant: statTarget(c)}
		p.CreateX = ratioOf(p.Create.OpsPerS, p.Put.OpsPerS)
		p.StatX = ratioOf(p.Stat.OpsPerS, p.Get.OpsPerS)
		res.Points = append(res.Points, p)
	}
	res.Run.TotalS = time.Since(began).Seconds()
	return res, nil
}

func curvePutValue() string {
	return string(make([]byte, 48)) // about a create record's size
}

func ratioOf(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return x / y
}

// Missed lists the targets the curve missed, as "create C=16".
func (r *CurveResult) Missed() []string {
	var out []string
	for _, p := range r.Points {
		if !p.CreateMet() {
			out = append(out, "create C="+strconv.Itoa(p.C))
		}
		if !p.StatMet() {
			out = append(out, "stat C="+strconv.Itoa(p.C))
		}
	}
	return out
}

// Table prints the curve: per C, ours beside etcd's, the ratio and the
// target met or MISSED.
func (r *CurveResult) Table(w io.Writer) error {
	fsync := "fsync on"
	if !r.Run.Fsync {
		fsync = "fsync OFF (figures not comparable)"
	}
	fmt.Fprintf(w, "master bench --curve: one client.Client, two masters, embedded etcd with %s, %d CPUs, %d interleaved rounds, total %v\n",
		fsync, r.Run.CPUs, r.Rounds, time.Duration(r.Run.TotalS*float64(time.Second)).Round(100*time.Millisecond))
	if r.Run.LoadBefore >= 0.5*float64(max(r.Run.CPUs, 1)) {
		fmt.Fprintf(w, "note: the machine's load average was %.1f before the run: compare the ratios, not the rates\n", r.Run.LoadBefore)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tC\tOURS OPS/S\tETCD OPS/S\tRATIO\tTARGET\tOURS P50/P99 MS\tETCD P50/P99 MS")
	row := func(name string, c int, ours, etcd Figures, x, want float64) {
		t := "-"
		if want > 0 {
			t = fmt.Sprintf(">= %gx ", want)
			if x >= want {
				t += "met"
			} else {
				t += "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2fx\t%s\t%.2f / %.2f\t%.2f / %.2f\n", name, c,
			thousands(ours.OpsPerS), thousands(etcd.OpsPerS), x, t, ours.P50Ms, ours.P99Ms, etcd.P50Ms, etcd.P99Ms)
	}
	for _, p := range r.Points {
		row("create vs etcd put", p.C, p.Create, p.Put, p.CreateX, p.CreateWant)
	}
	for _, p := range r.Points {
		row("stat vs etcd get (linearizable)", p.C, p.Stat, p.Get, p.StatX, p.StatWant)
	}
	return tw.Flush()
}
