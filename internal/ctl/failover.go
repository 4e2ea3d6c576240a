package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
)

// FailoverReport is `ctl failover`.
type FailoverReport struct {
	FailedMaster       string  `json:"failed_master"`
	NewPrimary         string  `json:"new_primary"`
	WALEntriesReplayed uint64  `json:"wal_entries_replayed"`
	FailoverTimeMs     float64 `json:"failover_time_ms"`
	OldToken           int64   `json:"old_token"`
	NewToken           int64   `json:"new_token"`
}

// Sentinel errors of the operator commands.
var (
	// ErrNoTakeover: no standby became primary in time.
	ErrNoTakeover = errors.New("ctl: no standby took over")
	// ErrNotThePrimary: `failover --from NODE` named a member that is not
	// the primary; nothing was revoked.
	ErrNotThePrimary = errors.New("ctl: not the primary")
)

// notThePrimary says that from is not the primary, and that nothing was done.
type notThePrimary struct{ from, primary string }

func (e notThePrimary) Error() string {
	if e.primary == "" {
		return fmt.Sprintf("%s is not the primary (there is no primary now); nothing done", e.from)
	}
	return fmt.Sprintf("%s is not the primary (the primary is %s); nothing done", e.from, e.primary)
}

func (e notThePrimary) Is(target error) bool { return target == ErrNotThePrimary }

// Failover revokes the lease of node from (the primary when empty), waits
// until another member serves as primary, and reports how long it took,
// measured from the revoke to the new primary's serving record in etcd.
// When from is not the primary it revokes nothing and returns an error
// wrapping ErrNotThePrimary.
func Failover(ctx context.Context, c *clientv3.Client, name, from string, timeout time.Duration) (FailoverReport, error) {
	keys := cluster.ForCluster(name)
	st, err := Status(ctx, c, name)
	if err != nil {
		return FailoverReport{}, err
	}
	if from == "" {
		from = st.Primary
	}
	if from == "" {
		return FailoverReport{}, fmt.Errorf("cluster %q has no primary to fail over; check `master ctl status`", name)
	}
	var target *cluster.MemberStatus
	others := 0
	for i := range st.Members {
		if st.Members[i].NodeID == from {
			target = &st.Members[i]
		} else if st.Members[i].ReplayError == "" && st.Members[i].Role != cluster.RoleDown {
			others++
		}
	}
	if target == nil {
		return FailoverReport{}, fmt.Errorf("--from %s: no such member in cluster %q (members: %s)", from, name, memberNames(st))
	}
	if target.Role == cluster.RoleDown {
		return FailoverReport{}, fmt.Errorf("--from %s: that member is already down (no session to revoke); see `master ctl status`", from)
	}
	rep := FailoverReport{FailedMaster: from, OldToken: st.Token}
	if from != st.Primary {
		// Revoking a standby's lease would fail nothing over and only
		// restart that standby's session.
		return rep, notThePrimary{from: from, primary: st.Primary}
	}
	if others == 0 {
		return rep, fmt.Errorf("no standby in cluster %q to take over from %s; start another master first: %w", name, from, ErrNoTakeover)
	}

	if paused, err := IsPaused(ctx, c, name); err != nil {
		return rep, err
	} else if paused {
		return rep, fmt.Errorf("cluster %q is paused (maintenance mode): no standby would take over; run `master ctl resume` first", name)
	}
	w, err := watchPromotion(ctx, c, keys, from, st.Token, timeout)
	if err != nil {
		return rep, err
	}
	defer w.stop()
	mark := cluster.HandoverRecord{Reason: "revoke", From: from, Token: st.Token, At: time.Now().UTC()}
	if err := putMarker(ctx, c, keys.ControlKey(cluster.ControlHandover), mark); err != nil {
		return rep, err
	}
	start := time.Now()
	if err := revoke(ctx, c, target.LeaseID); err != nil {
		return rep, err
	}
	m, err := w.wait()
	if err != nil {
		return rep, fmt.Errorf("revoked %s's lease but %w", from, err)
	}
	rep.FailoverTimeMs = cluster.Ms(time.Since(start))
	rep.NewPrimary, rep.NewToken = m.NodeID, m.Token
	if m.LastPromotion != nil {
		rep.WALEntriesReplayed = m.LastPromotion.ReplayedEntries
	}
	return rep, nil
}

// promotionWatch waits for a member other than from to publish itself
// primary with a token above oldToken.
type promotionWatch struct {
	wch     clientv3.WatchChan
	cancel  context.CancelFunc
	from    string
	old     int64
	timeout time.Duration
}

// watchPromotion starts watching member records before the caller acts, so
// that the takeover cannot be missed.
func watchPromotion(ctx context.Context, c *clientv3.Client, keys cluster.Keys, from string, oldToken int64, timeout time.Duration) (*promotionWatch, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	get, err := c.Get(wctx, keys.Members(), clientv3.WithPrefix())
	if err != nil {
		cancel()
		return nil, fmt.Errorf("read members: %w", err)
	}
	return &promotionWatch{
		wch:    c.Watch(wctx, keys.Members(), clientv3.WithPrefix(), clientv3.WithRev(get.Header.Revision+1)),
		cancel: cancel, from: from, old: oldToken, timeout: timeout,
	}, nil
}

func (w *promotionWatch) stop() { w.cancel() }

func (w *promotionWatch) wait() (cluster.MemberStatus, error) {
	for wr := range w.wch {
		if err := wr.Err(); err != nil {
			return cluster.MemberStatus{}, fmt.Errorf("watch members: %w", err)
		}
		for _, ev := range wr.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			var m cluster.MemberStatus
			if json.Unmarshal(ev.Kv.Value, &m) != nil {
				continue
			}
			if m.NodeID != w.from && m.Role == cluster.RolePrimary && m.Token > w.old {
				return m, nil
			}
		}
	}
	return cluster.MemberStatus{}, fmt.Errorf("no standby served within %v; check `master ctl status`: %w", w.timeout, ErrNoTakeover)
}

// putMarker records an operator action with a short lease (15 s).
func putMarker(ctx context.Context, c *clientv3.Client, key string, v any) error {
	b, _ := json.Marshal(v)
	g, err := c.Grant(ctx, 15)
	if err != nil {
		return fmt.Errorf("record %s: %w", key, err)
	}
	if _, err := c.Put(ctx, key, string(b), clientv3.WithLease(g.ID)); err != nil {
		return fmt.Errorf("record %s: %w", key, err)
	}
	return nil
}

func revoke(ctx context.Context, c *clientv3.Client, leaseHex string) error {
	id, err := strconv.ParseInt(leaseHex, 16, 64)
	if err != nil {
		return fmt.Errorf("member lease %q is not hex: %w", leaseHex, err)
	}
	if _, err := c.Revoke(ctx, clientv3.LeaseID(id)); err != nil {
		return fmt.Errorf("revoke lease %s: %w", leaseHex, err)
	}
	return nil
}

func memberNames(r Report) string {
	s := ""
	for i, m := range r.Members {
		if i > 0 {
			s += ", "
		}
		s += m.NodeID
	}
	if s == "" {
		return "none"
	}
	return s
}
