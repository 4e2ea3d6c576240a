package benchsuite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

// failovers measures runs failovers of a fresh two-master cluster.
func (e *env) failovers(ctx context.Context, clusterName string, runs int) (Failover, error) {
	p, err := StartPair(e.etcd, clusterName)
	if err != nil {
		return Failover{}, err
	}
	defer p.Close()
	f := Failover{Runs: runs}
	var totals []time.Duration
	for run := range runs {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		r, err := p.Failover(rctx)
		cancel()
		if err != nil {
			return Failover{}, fmt.Errorf("failover %d of %d: %w", run+1, runs, err)
		}
		f.Timeline = append(f.Timeline, r)
		totals = append(totals, r.Total)
	}
	slices.Sort(totals)
	f.P50Ms = percentileMs(totals, 0.50)
	f.P99Ms = percentileMs(totals, 0.99)
	f.MaxMs = ms(totals[len(totals)-1])
	return f, nil
}

// Pair is two masters of one cluster, each with its own etcd client, that
// fail over to each other on demand. Its methods are not safe for
// concurrent use.
type Pair struct {
	ms      [2]*master
	revoker *clientv3.Client
	seq     int // names the files written
}

// StartPair starts masters n1 and n2 of the named cluster on srv.
func StartPair(srv *embedetcd.Server, clusterName string) (*Pair, error) {
	p := &Pair{}
	var err error
	if p.revoker, err = srv.Client(); err != nil {
		return nil, fmt.Errorf("benchsuite: etcd client: %w", err)
	}
	for i, id := range []string{"n1", "n2"} {
		if p.ms[i], err = startOwnMaster(srv, clusterName, id, nil); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Close stops both masters. It is safe to call twice.
func (p *Pair) Close() {
	for _, m := range p.ms {
		if m != nil {
			m.stop()
		}
	}
	if p.revoker != nil {
		p.revoker.Close()
		p.revoker = nil
	}
}

// Failover waits until one master serves and the other campaigns with
// everything applied, writes once more and waits until the standby applied
// that too, revokes the primary's lease, and writes through the standby
// until a write is acknowledged. The run's Total is from the revoke to that
// acknowledgement.
func (p *Pair) Failover(ctx context.Context) (FailoverRun, error) {
	var old, next *master
	ready := func() bool {
		for i, m := range p.ms {
			o := p.ms[1-i]
			if m.Serving() && o.Role() == cluster.RoleCandidate && o.Status().LeaseID != "" &&
				o.State().AppliedIndex() == m.State().AppliedIndex() {
				old, next = m, o
				return true
			}
		}
		return false
	}
	if err := poll(ctx, time.Millisecond, ready); err != nil {
		return FailoverRun{}, fmt.Errorf("no primary with a caught-up campaigning standby: %w", err)
	}
	if err := p.write(ctx, old); err != nil {
		return FailoverRun{}, fmt.Errorf("write before the revoke: %w", err)
	}
	want := old.State().AppliedIndex()
	if err := poll(ctx, 200*time.Microsecond, func() bool { return next.State().AppliedIndex() >= want }); err != nil {
		return FailoverRun{}, fmt.Errorf("standby %s did not apply index %d: %w", next.ID(), want, err)
	}
	lease, err := strconv.ParseInt(old.Status().LeaseID, 16, 64)
	if err != nil {
		return FailoverRun{}, fmt.Errorf("lease id of %s: %w", old.ID(), err)
	}
	prevToken := int64(0)
	if pr := next.Status().LastPromotion; pr != nil {
		prevToken = pr.Token
	}

	start := time.Now()
	if _, err := p.revoker.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		return FailoverRun{}, fmt.Errorf("revoke the lease of %s: %w", old.ID(), err)
	}
	if err := p.writeWhenServing(ctx, next); err != nil {
		return FailoverRun{}, err
	}
	total := time.Since(start)

	pr := next.Status().LastPromotion
	if pr == nil || pr.Token == prevToken {
		return FailoverRun{}, fmt.Errorf("%s wrote without a new promotion", next.ID())
	}
	// Wall-clock instants of one process: good for splitting one duration.
	won := time.Unix(0, pr.WonUnixNano).Sub(start)
	serving := time.Unix(0, pr.ServingUnixNano).Sub(start)
	return FailoverRun{
		Total:           total,
		TotalMs:         ms(total),
		RevokeToWonMs:   max(0, ms(won)),
		CatchUpMs:       pr.CatchUpMs,
		FirstWriteMs:    pr.FirstWriteMs,
		AckMs:           max(0, ms(total-serving)),
		ReplayedEntries: pr.ReplayedEntries,
		NewPrimary:      next.ID(),
	}, nil
}

// write creates the next file through m.
func (p *Pair) write(ctx context.Context, m *master) error {
	p.seq++
	r, err := m.Propose(ctx, meta.Op{Type: meta.OpCreate, Path: "/f" + strconv.Itoa(p.seq)})
	if err != nil {
		return err
	}
	return r.Err
}

// writeWhenServing retries a write through m until m serves and
// acknowledges it.
func (p *Pair) writeWhenServing(ctx context.Context, m *master) error {
	p.seq++
	op := meta.Op{Type: meta.OpCreate, Path: "/f" + strconv.Itoa(p.seq)}
	for {
		promoted := m.Promoted()
		r, err := m.Propose(ctx, op)
		switch {
		case err == nil && r.Err == nil:
			return nil
		case err == nil:
			return fmt.Errorf("first write on %s: %w", m.ID(), r.Err)
		case !errors.Is(err, node.ErrNotPrimary):
			return fmt.Errorf("first write on %s: %w", m.ID(), err)
		}
		t := time.NewTimer(200 * time.Microsecond)
		select {
		case <-promoted:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s never acknowledged a write after the revoke: %w", m.ID(), ctx.Err())
		}
		t.Stop()
	}
}
