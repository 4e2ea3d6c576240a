package benchsuite

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
	"github.com/gfsha/master/internal/walship"
)

// ReadPoint is one read figure: Stat through node.ReadAt (in process, no
// RPC), by consistency, clients and where the reads are served.
type ReadPoint struct {
	// Consistency is linearizable, session or stale; "etcd get" is etcd's
	// own linearizable Get of the log head, the baseline.
	Consistency string  `json:"consistency"`
	Clients     int     `json:"clients"`
	Members     int     `json:"members"` // 1: the primary alone; 3: spread over all
	OpsPerS     float64 `json:"ops_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	// HeadReads is how many etcd reads of the head the linearizable reads
	// made (shared by concurrent reads).
	HeadReads uint64 `json:"head_reads,omitempty"`
}

// reads measures the read path on three members of a fresh cluster: a
// primary and two caught-up shadows.
func (e *env) reads(ctx context.Context, res *Result) error {
	o := e.o
	d := o.SweepDuration
	if d <= 0 {
		d = o.WriteDuration
	}
	many := min(o.Writers, 64)
	const name = "reads"
	var ms []*master
	defer func() {
		for _, m := range ms {
			m.stop()
		}
	}()
	for _, id := range []string{"r1", "r2", "r3"} {
		m, err := startOwnMaster(e.etcd, name, id, nil)
		if err != nil {
			return err
		}
		ms = append(ms, m)
		if id == "r1" {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := waitServing(wctx, m.Node)
			cancel()
			if err != nil {
				return err
			}
		}
	}
	primary := ms[0]
	for i := range 100 {
		r, err := primary.Propose(ctx, meta.Op{Type: meta.OpCreate, Path: "/f" + strconv.Itoa(i)})
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return fmt.Errorf("benchsuite: reads: create: %w", err)
		}
	}
	head := primary.State().AppliedIndex()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := poll(wctx, time.Millisecond, func() bool {
		return ms[1].State().AppliedIndex() >= head && ms[2].State().AppliedIndex() >= head
	})
	cancel()
	if err != nil {
		return fmt.Errorf("benchsuite: reads: shadows did not catch up: %w", err)
	}

	// Stale reads need each member to have known it was caught up once.
	wctx, cancel = context.WithTimeout(ctx, time.Minute)
	err = poll(wctx, 5*time.Millisecond, func() bool {
		for _, m := range ms {
			if _, err := m.ReadAt(wctx, node.ReadOptions{Consistency: node.Stale, MaxLag: time.Hour}, func(*meta.State) error { return nil }); err != nil {
				return false
			}
		}
		return true
	})
	cancel()
	if err != nil {
		return fmt.Errorf("benchsuite: reads: members never knew they were caught up: %w", err)
	}

	keys := cluster.ForCluster(name).WAL()
	for _, clients := range []int{1, many} {
		o.progress("reads: etcd linearizable get, %d clients, %v", clients, d)
		l, err := Drive(ctx, clients, o.WriteWarmup, d, func(ctx context.Context, _, _ int) error {
			_, err := walship.ReadHead(ctx, e.c, keys)
			return err
		})
		if err != nil {
			return fmt.Errorf("benchsuite: reads: etcd get: %w", err)
		}
		res.Reads = append(res.Reads, ReadPoint{Consistency: "etcd get", Clients: clients, Members: 1,
			OpsPerS: l.OpsPerS(), P50Ms: l.PercentileMs(0.5), P99Ms: l.PercentileMs(0.99)})
	}
	for _, c := range []node.Consistency{node.Linearizable, node.Session, node.Stale} {
		for _, clients := range []int{1, many} {
			for _, members := range []int{1, 3} {
				o.progress("reads: %v, %d clients, %d member(s), %v", c, clients, members, d)
				var heads0 uint64
				for _, m := range ms {
					heads0 += m.HeadReads()
				}
				l, err := Drive(ctx, clients, o.WriteWarmup, d, func(ctx context.Context, w, i int) error {
					m := ms[0]
					if members > 1 {
						m = ms[i%len(ms)]
					}
					_, err := m.ReadAt(ctx, node.ReadOptions{Consistency: c, MinIndex: head, MaxLag: time.Hour}, func(s *meta.State) error {
						_, err := s.Stat("/f" + strconv.Itoa(i%100))
						return err
					})
					return err
				})
				if err != nil {
					return fmt.Errorf("benchsuite: reads: %v: %w", c, err)
				}
				var heads uint64
				for _, m := range ms {
					heads += m.HeadReads()
				}
				res.Reads = append(res.Reads, ReadPoint{Consistency: c.String(), Clients: clients, Members: members,
					OpsPerS: l.OpsPerS(), P50Ms: l.PercentileMs(0.5), P99Ms: l.PercentileMs(0.99), HeadReads: heads - heads0})
			}
		}
	}
	return nil
}

// ReadTable prints the read figures.
func ReadTable(w io.Writer, points []ReadPoint) error {
	if len(points) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "READS (Stat, in process)\tCLIENTS\tMEMBERS\tOPS/S\tP50 MS\tP99 MS\tHEAD READS\t")
	for _, p := range points {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.3f\t%.3f\t%d\t\n", p.Consistency, p.Clients, p.Members, thousands(p.OpsPerS), p.P50Ms, p.P99Ms, p.HeadReads)
	}
	return tw.Flush()
}
