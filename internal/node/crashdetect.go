package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
)

// detectCrashes follows the election and, while another member leads,
// watches that member's advertised RPC address for a crash (see
// election.CrashWatch): once it has actively refused connections for
// CrashDetect (longer for standbys less caught up than others), this node
// revokes the primary's lease. A timeout is never evidence, so a paused or
// partitioned primary is left to its lease. Revoking is safe whatever the
// truth: every leader-only write is fenced by the leader key the lease
// carries, so a wrong guess costs one failover, never two writers.
func (n *Node) detectCrashes(ctx context.Context) {
	type watch struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	var cur *watch
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stop()
	for l := range election.Observe(ctx, n.cfg.Client, n.cfg.Keys.Election()) {
		stop()
		if l.Key == "" {
			continue
		}
		v, err := cluster.DecodeLeaderValue(l.Value)
		if err != nil || v.NodeID == n.cfg.NodeID || v.Address == "" {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &watch{cancel: cancel, done: make(chan struct{})}
		cur = w
		go func() {
			defer close(w.done)
			n.watchPrimary(wctx, l, v)
		}()
	}
}

// watchPrimary watches one leadership until ctx ends or it revoked it.
func (n *Node) watchPrimary(ctx context.Context, l election.Leader, v cluster.LeaderValue) {
	w := election.CrashWatch{Addr: v.Address, Dial: n.crashDial, Wait: n.crashWait}
	for {
		since, err := w.Run(ctx)
		if err != nil {
			return
		}
		if n.revokeCrashed(ctx, l, v, since) {
			return
		}
	}
}

// crashWait is how long refusals must last before this node acts: the
// most caught-up live standby acts after CrashDetect, the k-th after
// (k+1)·CrashDetect, so one revoke normally suffices.
func (n *Node) crashWait(ctx context.Context) time.Duration {
	d := n.cfg.CrashDetect
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	ms, err := n.members(rctx)
	if err != nil {
		return 2 * d
	}
	return d * time.Duration(1+standbyRank(ms, n.cfg.NodeID))
}

// standbyRank is id's place among the standbys that could take over, most
// caught up first (ties by node_id); len when id is not one.
func standbyRank(ms []cluster.MemberStatus, id string) int {
	var sb []cluster.MemberStatus
	for _, m := range ms {
		if (m.Role == cluster.RoleStandby || m.Role == cluster.RoleCandidate) && m.ReplayError == "" {
			sb = append(sb, m)
		}
	}
	slices.SortFunc(sb, func(a, b cluster.MemberStatus) int {
		if a.AppliedIndex != b.AppliedIndex {
			if a.AppliedIndex > b.AppliedIndex {
				return -1
			}
			return 1
		}
		if a.NodeID < b.NodeID {
			return -1
		}
		if a.NodeID > b.NodeID {
			return 1
		}
		return 0
	})
	for i, m := range sb {
		if m.NodeID == id {
			return i
		}
	}
	return len(sb)
}

// revokeCrashed revokes the lease of leadership l after refusals since
// since, if this node is still a standby that may take over, the cluster is
// not paused and l still leads. It leaves a "crash" marker with the
// measured detect phase for the next primary's history. It reports whether
// it revoked.
func (n *Node) revokeCrashed(ctx context.Context, l election.Leader, v cluster.LeaderValue, since time.Time) bool {
	if n.Paused() || n.Role() == cluster.RolePrimary || !n.hasSession() {
		return false
	}
	n.mu.Lock()
	broken := n.replayErr != nil
	n.mu.Unlock()
	if broken {
		return false
	}
	bound := n.cfg.CommitTimeoutOrDefault()
	c := n.cfg.Client
	cctx, cancel := context.WithTimeout(ctx, bound)
	cur, err := election.CurrentLeader(cctx, c, n.cfg.Keys.Election())
	cancel()
	if err != nil || cur.Key != l.Key || cur.Token != l.Token {
		return errors.Is(err, election.ErrNoLeader) || (err == nil && cur.Key != l.Key)
	}
	detect := cluster.Ms(time.Since(since))
	rec := cluster.HandoverRecord{Reason: "crash", From: v.NodeID, Token: int64(l.Token), At: time.Now().UTC(), DetectMs: &detect}
	hctx, cancel := context.WithTimeout(ctx, bound)
	if err := putShortLived(hctx, c, n.cfg.Keys.ControlKey(cluster.ControlHandover), rec, 15*time.Second); err != nil {
		n.log.Debug("record crash handover", "err", err)
	}
	cancel()
	rctx, cancel := context.WithTimeout(ctx, bound)
	_, err = c.Revoke(rctx, l.Lease)
	cancel()
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		n.log.Warn("primary's address refuses connections but revoking its lease failed", "primary", v.NodeID, "err", err)
		return false
	}
	n.log.Warn("primary crashed: its address refuses connections; revoked its lease",
		"primary", v.NodeID, "address", v.Address, "lease", fmt.Sprintf("%016x", int64(l.Lease)), "token", l.Token, "detect_ms", detect)
	return true
}
