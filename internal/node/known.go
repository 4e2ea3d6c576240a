package node

import (
	"context"
	"time"

	"github.com/gfsha/master/internal/cluster"
)

// knownEvery is how often a running member refreshes its registry entry
// (its last_seen): the precision of `ctl status`'s last_seen of a member
// that went down.
const knownEvery = 5 * time.Second

// touchKnownLocked refreshes this member's registry entry (no lease, so it
// outlives the member) when it is older than knownEvery. The caller holds
// n.pub.mu.
func (n *Node) touchKnownLocked(ctx context.Context) error {
	p := &n.pub
	if !p.knownAt.IsZero() && time.Since(p.knownAt) < knownEvery {
		return nil
	}
	now := time.Now()
	rec := cluster.KnownRecord{NodeID: n.cfg.NodeID, Address: n.cfg.Address, HTTPAddress: n.cfg.HTTPAddress,
		LastSeen: now.UTC(), Tags: n.cfg.Tags}
	if _, err := n.cfg.Client.Put(ctx, n.cfg.Keys.KnownMember(n.cfg.NodeID), string(rec.Encode())); err != nil {
		return err
	}
	p.knownAt = now
	return nil
}
