package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
)

// Sentinel errors of operator actions.
var (
	// ErrPaused: the cluster is in maintenance mode.
	ErrPaused = errors.New("master: cluster is paused (maintenance mode)")
	// ErrTargetNotReady: a switchover target that is not a caught-up standby.
	ErrTargetNotReady = errors.New("master: switchover target is not a caught-up standby")
)

// Paused reports whether maintenance mode is on (no automatic failover).
func (n *Node) Paused() bool { return n.paused.Load() }

// watchPause follows the pause key.
func (n *Node) watchPause(ctx context.Context) {
	key := n.cfg.Keys.ControlKey(cluster.ControlPaused)
	for ctx.Err() == nil {
		r, err := n.cfg.Client.Get(ctx, key)
		if err == nil {
			n.setPaused(len(r.Kvs) > 0)
			wctx, cancel := context.WithCancel(ctx)
			for wr := range n.cfg.Client.Watch(clientv3.WithRequireLeader(wctx), key, clientv3.WithRev(r.Header.Revision+1)) {
				if wr.Err() != nil {
					break
				}
				for _, ev := range wr.Events {
					n.setPaused(ev.Type == clientv3.EventTypePut)
				}
			}
			cancel()
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func (n *Node) setPaused(p bool) {
	if n.paused.Swap(p) == p {
		return
	}
	n.log.Info("maintenance mode", "paused", p)
	n.mu.Lock()
	close(n.pauseCh)
	n.pauseCh = make(chan struct{})
	n.mu.Unlock()
	n.kickStatus()
}

// pauseChanged returns a channel closed at the next pause change.
func (n *Node) pauseChanged() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pauseCh
}

// refreshPaused reads the pause key now (linearizably), so that a
// candidacy never starts on a stale view of it.
func (n *Node) refreshPaused(ctx context.Context) error {
	r, err := n.cfg.Client.Get(ctx, n.cfg.Keys.ControlKey(cluster.ControlPaused), clientv3.WithCountOnly())
	if err != nil {
		return err
	}
	n.setPaused(r.Count > 0)
	return nil
}

// waitUnpaused blocks while maintenance mode is on.
func (n *Node) waitUnpaused(ctx context.Context) error {
	if err := n.refreshPaused(ctx); err != nil {
		return err
	}
	for {
		ch := n.pauseChanged()
		if !n.Paused() {
			return nil
		}
		n.setRole(cluster.RoleStandby, "paused: no automatic failover until `ctl resume`")
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readControl decodes control key name into v; false when absent.
func (n *Node) readControl(ctx context.Context, name string, v any) (bool, error) {
	r, err := n.cfg.Client.Get(ctx, n.cfg.Keys.ControlKey(name))
	if err != nil {
		return false, err
	}
	if len(r.Kvs) == 0 {
		return false, nil
	}
	return true, json.Unmarshal(r.Kvs[0].Value, v)
}

// putShortLived writes control key name with a lease of ttl, so that a
// marker never outlives the change it describes by much.
func putShortLived(ctx context.Context, c *clientv3.Client, key string, v any, ttl time.Duration) error {
	b, _ := json.Marshal(v)
	g, err := c.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return err
	}
	_, err = c.Put(ctx, key, string(b), clientv3.WithLease(g.ID))
	return err
}

// Switchover hands leadership to the standby `to` gracefully: it refuses
// unless `to` is a caught-up standby, stops accepting new mutations (they
// fail with ErrNotPrimary, which clients retry), waits for those in flight
// to commit, and resigns; `to` then wins. It returns once the resignation
// is done; the caller watches for the target to serve.
func (n *Node) Switchover(ctx context.Context, to string) error {
	n.mu.Lock()
	l := n.lead
	n.mu.Unlock()
	if l == nil {
		return n.notPrimary()
	}
	if to == n.cfg.NodeID {
		return fmt.Errorf("switchover --to %s: that is the primary already: %w", to, ErrTargetNotReady)
	}
	if n.Paused() {
		return fmt.Errorf("switchover: %w; run `master ctl resume` first", ErrPaused)
	}
	ms, err := n.members(ctx)
	if err != nil {
		return err
	}
	var target *cluster.MemberStatus
	for i := range ms {
		if ms[i].NodeID == to {
			target = &ms[i]
		}
	}
	switch {
	case target == nil:
		return fmt.Errorf("switchover --to %s: no such live member: %w", to, ErrTargetNotReady)
	case target.ReplayError != "":
		return fmt.Errorf("switchover --to %s: its replay stopped (%s): %w", to, target.ReplayError, ErrTargetNotReady)
	case target.Role != cluster.RoleStandby:
		return fmt.Errorf("switchover --to %s: it is %s: %w", to, target.Role, ErrTargetNotReady)
	case target.Tags != nil && target.Tags.NoFailover:
		return fmt.Errorf("switchover --to %s: it is tagged nofailover and never campaigns; pick another member or clear tags.nofailover: %w", to, ErrTargetNotReady)
	case n.state.AppliedIndex() > target.AppliedIndex+1000 || target.LagEntries > 1000:
		return fmt.Errorf("switchover --to %s: it is %d entries behind (applied %d of %d); retry when it has caught up: %w",
			to, n.state.AppliedIndex()-target.AppliedIndex, target.AppliedIndex, n.state.AppliedIndex(), ErrTargetNotReady)
	}
	rec := cluster.SwitchoverRecord{From: n.cfg.NodeID, To: to, Token: int64(l.Token()), At: time.Now().UTC()}
	if err := putShortLived(ctx, n.cfg.Client, n.cfg.Keys.ControlKey(cluster.ControlSwitchover), rec, 15*time.Second); err != nil {
		return fmt.Errorf("switchover: record it in etcd: %w", err)
	}
	// Stop taking mutations, let those in flight commit, then let go.
	n.mu.Lock()
	n.draining = to
	n.mu.Unlock()
	n.inflight.Wait()
	n.handover(ctx, "switchover", l.Token())
	n.log.Info("switchover: resigning", "to", to, "applied", n.state.AppliedIndex())
	return l.Resign(ctx)
}

// handover records why this primary lets go, for the next one's history.
func (n *Node) handover(ctx context.Context, reason string, tok interface{ String() string }) {
	rec := cluster.HandoverRecord{Reason: reason, From: n.cfg.NodeID, At: time.Now().UTC()}
	fmt.Sscan(tok.String(), &rec.Token)
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := putShortLived(hctx, n.cfg.Client, n.cfg.Keys.ControlKey(cluster.ControlHandover), rec, 15*time.Second); err != nil {
		n.log.Debug("record handover", "err", err)
	}
}

// yieldsToSwitchover reports whether a switchover to another live member is
// under way, in which case this newly won leadership must step aside.
func (n *Node) yieldsToSwitchover(ctx context.Context) (string, bool) {
	var rec cluster.SwitchoverRecord
	ok, err := n.readControl(ctx, cluster.ControlSwitchover, &rec)
	if err != nil || !ok || rec.To == n.cfg.NodeID {
		return "", false
	}
	n.mu.Lock()
	last := int64(n.lastToken)
	n.mu.Unlock()
	if rec.Token != last {
		// A record of an earlier switchover, completed since: the target
		// served and wrote under a newer token. Yielding to it again would
		// hand leadership back to the member just failed over from.
		return "", false
	}
	r, err := n.cfg.Client.Get(ctx, n.cfg.Keys.Member(rec.To), clientv3.WithCountOnly())
	if err != nil || r.Count == 0 {
		return "", false
	}
	return rec.To, true
}

// historyReason names why leadership changed, from the markers the old
// primary or the operator left.
func (n *Node) historyReason(ctx context.Context, p cluster.Promotion) (string, *cluster.HandoverRecord) {
	// The marker of the leader this one replaced: that leader may have died
	// before its first write, so its token is at least the last one in the
	// log, and below this one's.
	var h cluster.HandoverRecord
	if ok, err := n.readControl(ctx, cluster.ControlHandover, &h); err == nil && ok &&
		h.Token >= p.PreviousToken && h.Token < p.Token && h.Token > 0 {
		return h.Reason, &h
	}
	if p.PreviousToken == 0 {
		return "first start", nil
	}
	return "lease expiry", nil
}
