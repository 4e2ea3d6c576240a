package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
)

// takeOver revokes the leases of this data dir's dead incarnations (and
// this process's own earlier sessions whose revoke failed), all but
// current. Holding the data dir lock proves the incarnations that recorded
// them are gone, so their election key need not wait out its TTL: a
// standby takes over at once, or this node wins at once when alone. When
// one of them led, a handover marker says "restart" for the history.
func (n *Node) takeOver(ctx context.Context, current clientv3.LeaseID) error {
	var leases []clientv3.LeaseID
	seen := map[clientv3.LeaseID]bool{current: true}
	add := func(l clientv3.LeaseID) {
		if !seen[l] {
			seen[l] = true
			leases = append(leases, l)
		}
	}
	if n.inc != nil {
		for _, l := range n.inc.Leases() {
			add(clientv3.LeaseID(l))
		}
	}
	n.mu.Lock()
	for l := range n.pastLeases {
		add(l)
	}
	n.mu.Unlock()
	if len(leases) == 0 {
		return nil
	}
	c := n.cfg.Client
	bound := n.cfg.CommitTimeoutOrDefault()
	lctx, cancel := context.WithTimeout(ctx, bound)
	leader, err := election.CurrentLeader(lctx, c, n.cfg.Keys.Election())
	cancel()
	if err != nil && !errors.Is(err, election.ErrNoLeader) {
		return fmt.Errorf("take over from this node's dead incarnation: %w", err)
	}
	for _, l := range leases {
		if leader.Key != "" && leader.Lease == l {
			rec := cluster.HandoverRecord{Reason: "restart", From: n.cfg.NodeID, Token: int64(leader.Token), At: time.Now().UTC()}
			hctx, cancel := context.WithTimeout(ctx, bound)
			if err := putShortLived(hctx, c, n.cfg.Keys.ControlKey(cluster.ControlHandover), rec, 15*time.Second); err != nil {
				n.log.Debug("record restart handover", "err", err)
			}
			cancel()
		}
		rctx, cancel := context.WithTimeout(ctx, bound)
		_, err := c.Revoke(rctx, l)
		cancel()
		switch {
		case err == nil:
			n.log.Info("revoked the lease of this node's dead incarnation", "lease", fmt.Sprintf("%016x", int64(l)),
				"was_primary", leader.Lease == l && leader.Key != "")
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
		default:
			return fmt.Errorf("revoke lease %016x of this node's dead incarnation: %w", int64(l), err)
		}
		n.forgetLease(l)
	}
	return nil
}
