package maelstrom

import (
	"context"
	"math"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/walship"
)

// shadowStatus is the answer to shadow_status.
type shadowStatus struct {
	Primary       string // "" when no master serves
	Shadow        string // "" when no standby can take over
	WALLagEntries uint64
	WALLagMs      float64
}

// status reads who serves and the shadow's replay lag, from the masters'
// own in-memory status (fresher than the records they publish in etcd) and
// the log head in etcd. It follows `ctl status`: the shadow is the most
// caught-up standby; among equally caught-up ones, the one first in the
// election queue, which is the one that takes over next.
func (g *group) status(ctx context.Context) (shadowStatus, error) {
	var st shadowStatus
	p := g.primary()
	if p != nil {
		st.Primary = p.id
	}
	head, err := walship.ReadHead(ctx, g.admin, g.keys.WAL())
	if err != nil {
		return st, err
	}
	queue, err := g.electionQueue(ctx)
	if err != nil {
		return st, err
	}
	var best cluster.MemberStatus
	bestPlace := math.MaxInt
	found := false
	for _, m := range g.members {
		if m == p {
			continue
		}
		ms := m.node.Status()
		if ms.ReplayError != "" || ms.Role == cluster.RolePrimary {
			continue
		}
		place := math.MaxInt - 1 // not queued (between sessions): after every queued one
		if lease, err := parseLease(ms.LeaseID); err == nil {
			if q, ok := queue[lease]; ok {
				place = q
			}
		}
		if !found || ms.AppliedIndex > best.AppliedIndex || (ms.AppliedIndex == best.AppliedIndex && place < bestPlace) {
			best, bestPlace, found = ms, place, true
		}
	}
	if !found {
		return st, nil
	}
	st.Shadow = best.NodeID
	st.WALLagEntries = best.LagEntries
	if head > best.AppliedIndex && head-best.AppliedIndex > st.WALLagEntries {
		st.WALLagEntries = head - best.AppliedIndex
	}
	st.WALLagMs = best.LagMs
	return st, nil
}
