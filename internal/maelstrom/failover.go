package maelstrom

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// failoverResult is the answer to trigger_failover.
type failoverResult struct {
	NewPrimary         string
	WALEntriesReplayed uint64
	// FailoverTimeMs is measured on the monotonic clock from just before
	// the revoke to the moment the new primary serves; 0 when nothing
	// was failed over.
	FailoverTimeMs float64
}

// failover fails the master named failed, which must be a member.
//
// When it is the primary, its session lease is revoked (exactly what
// `etcdctl lease revoke` does: its election key and status vanish, and it
// notices through its watches within milliseconds), and failover waits up
// to timeout for another master to serve. Then it waits, within the same
// bound, until the failed master campaigns again as a standby and every
// standby has replayed the new primary's first write, so that the next
// failover can fail back and the next status sees a settled group; if that
// does not happen in time, the result is still reported and the delay
// logged.
//
// When it is a standby, nothing is revoked: the primary stays.
func (g *group) failover(ctx context.Context, failed string, timeout time.Duration) (failoverResult, error) {
	var res failoverResult
	m := g.byID(failed)
	p := g.primary()
	if p == nil {
		return res, ErrNoPrimary
	}
	if p != m {
		res.NewPrimary = p.id
		return res, nil
	}

	var others []*member
	for _, o := range g.members {
		if o == m {
			continue
		}
		ok, err := g.campaigning(ctx, o)
		if err != nil {
			return res, err
		}
		if ok {
			others = append(others, o)
		}
	}
	if len(others) == 0 {
		return res, fmt.Errorf("%w: %s is the only master campaigning; name more masters in init's node_ids",
			ErrNoShadow, failed)
	}
	lease, err := parseLease(m.node.Status().LeaseID)
	if err != nil {
		return res, err
	}

	wctx, cancel := context.WithTimeout(ctx, timeout)
	// Take each standby's promotion channel before revoking, so that no
	// promotion can be missed.
	promoted := make(chan *member, len(others))
	var wg sync.WaitGroup
	defer func() {
		cancel() // ends the waiters of standbys that were not promoted
		wg.Wait()
	}()
	for _, o := range others {
		ch := o.node.Promoted()
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ch:
				promoted <- o // buffered for every waiter: never blocks
			case <-wctx.Done():
			}
		}()
	}

	start := time.Now()
	if _, err := g.admin.Revoke(wctx, lease); err != nil {
		return res, fmt.Errorf("maelstrom: revoke %s's lease %x: %w", failed, int64(lease), err)
	}
	var np *member
	select {
	case np = <-promoted:
	case <-wctx.Done():
		return res, fmt.Errorf("revoked %s's lease but no other master served within %v: %w", failed, timeout, ErrNoTakeover)
	}
	res.FailoverTimeMs = float64(time.Since(start).Microseconds()) / 1000
	res.NewPrimary = np.id
	if p := np.node.Status().LastPromotion; p != nil {
		res.WALEntriesReplayed = p.ReplayedEntries
	}
	g.log.Info("failover", "failed", failed, "new_primary", np.id, "ms", res.FailoverTimeMs,
		"replayed", res.WALEntriesReplayed)

	// Settle before replying: the failed master back in the queue, and
	// every standby caught up with the new primary's first write, so the
	// next request sees the group as it now stands.
	rctx, rcancel := context.WithTimeout(ctx, timeout)
	defer rcancel()
	for _, o := range g.members {
		if o == np {
			continue
		}
		if err := g.waitStandby(rctx, o); err != nil {
			g.log.Warn("master has not settled as a caught-up standby; the next failover may not find it",
				"node", o.id, "failed", o == m, "waited", timeout, "err", err)
		}
	}
	return res, nil
}
