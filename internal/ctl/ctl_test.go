package ctl_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/devcluster"
)

func keysOf(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func hasAll(got, want []string) bool {
	set := map[string]bool{}
	for _, k := range got {
		set[k] = true
	}
	for _, k := range want {
		if !set[k] {
			return false
		}
	}
	return true
}

func TestStatusShapeAndFailover(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	etcd := dc.Masters[0].Etcd()
	r, err := ctl.Status(t.Context(), etcd, "test")
	if err != nil {
		t.Fatal(err)
	}
	// The contract's keys, exactly as promised.
	top := []string{"cluster", "primary", "shadow", "token", "last_fenced_index", "wal_lag_entries", "wal_lag_ms", "members"}
	member := []string{"node_id", "role", "address", "http_address", "lease_id", "applied_index", "lag_entries", "lag_ms", "checkpoint_index"}
	if got := keysOf(t, r); !hasAll(got, top) {
		t.Fatalf("status keys %v; want all of %v", got, top)
	}
	if len(r.Members) != 2 {
		t.Fatalf("%d members; want 2", len(r.Members))
	}
	if got := keysOf(t, r.Members[0]); !hasAll(got, member) {
		t.Fatalf("member keys %v; want all of %v", got, member)
	}
	primary := dc.Primary().Node.ID()
	if r.Primary != primary || r.Shadow == "" || r.Shadow == primary || r.Token <= 0 || r.LastFencedIndex == 0 {
		t.Fatalf("status = %+v; want primary %s, the other as shadow, a token and a fenced index", r, primary)
	}
	roles := map[string]string{}
	for _, m := range r.Members {
		roles[m.NodeID] = m.Role
		if len(m.LeaseID) != 16 {
			t.Errorf("lease_id %q is not 16 hex digits as etcdctl prints it", m.LeaseID)
		}
	}
	if roles[primary] != cluster.RolePrimary || roles[r.Shadow] != cluster.RoleStandby {
		t.Errorf("roles = %v", roles)
	}

	// Failing over from a standby is refused: nothing revoked, the
	// primary stays.
	var shadowLease string
	for _, m := range r.Members {
		if m.NodeID == r.Shadow {
			shadowLease = m.LeaseID
		}
	}
	f, err := ctl.Failover(t.Context(), etcd, "test", r.Shadow, 10*time.Second)
	want := r.Shadow + " is not the primary (the primary is " + primary + "); nothing done"
	if !errors.Is(err, ctl.ErrNotThePrimary) || err.Error() != want {
		t.Fatalf("failover --from %s (a standby) = %+v, %v; want %q", r.Shadow, f, err, want)
	}
	if id, perr := strconv.ParseInt(shadowLease, 16, 64); perr != nil {
		t.Fatal(perr)
	} else if ttl, err := etcd.TimeToLive(t.Context(), clientv3.LeaseID(id)); err != nil || ttl.TTL <= 0 {
		t.Fatalf("the standby's lease %s after the refused failover: %+v, %v; want it alive", shadowLease, ttl, err)
	}

	f, err = ctl.Failover(t.Context(), etcd, "test", "", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, f); !hasAll(got, []string{"failed_master", "new_primary", "wal_entries_replayed", "failover_time_ms"}) {
		t.Fatalf("failover keys %v", got)
	}
	if f.FailedMaster != primary || f.NewPrimary == primary || f.NewToken <= f.OldToken || f.FailoverTimeMs <= 0 {
		t.Fatalf("failover = %+v; want a new primary with a higher token", f)
	}
	t.Logf("failover took %.2f ms", f.FailoverTimeMs)
	r2, err := ctl.Status(t.Context(), etcd, "test")
	if err != nil || r2.Primary != f.NewPrimary || r2.Token != f.NewToken {
		t.Fatalf("status after failover = %+v, %v; want primary %s token %d", r2, err, f.NewPrimary, f.NewToken)
	}

	// The new primary records the change just after it starts serving.
	hs := waitHistory(t, etcd, f.NewToken)
	if last := hs[len(hs)-1]; last.Reason != "revoke" || last.NewPrimary != f.NewPrimary || last.PreviousToken != f.OldToken || last.Phases.DetectMs == nil {
		t.Errorf("last history record = %+v; want the revoke, with its detect phase", last)
	}
	if last := hs[len(hs)-1]; last.PreviousPrimary != f.FailedMaster {
		t.Errorf("last history record names previous primary %q; want %s", last.PreviousPrimary, f.FailedMaster)
	}

	if _, err := ctl.Failover(t.Context(), etcd, "test", "nosuch", time.Second); err == nil {
		t.Fatal("failover --from nosuch succeeded")
	}
}

// waitHistory waits until the history holds the record of token.
func waitHistory(t *testing.T, etcd *clientv3.Client, token int64) []cluster.HistoryRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		hs, err := ctl.History(ctx, etcd, "test")
		if err == nil && len(hs) > 0 && hs[len(hs)-1].Token == token {
			return hs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no history record for token %d: %v %v", token, hs, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitMembers waits until ctl status lists n members (a restarted
// member's record reappears with its new session).
func waitMembers(t *testing.T, etcd *clientv3.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		r, err := ctl.Status(ctx, etcd, "test")
		live := 0
		for _, m := range r.Members {
			if m.Role != cluster.RoleDown {
				live++
			}
		}
		if err == nil && live == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("status never listed %d members", n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestFailoverWithoutStandbyRefuses(t *testing.T) {
	dc := devcluster.StartT(t, 1)
	_, err := ctl.Failover(t.Context(), dc.Masters[0].Etcd(), "test", "", time.Second)
	if !errors.Is(err, ctl.ErrNoTakeover) {
		t.Fatalf("failover with no standby = %v; want ErrNoTakeover", err)
	}
	if !dc.Masters[0].Node.Serving() {
		t.Fatal("the lone primary was deposed by a refused failover")
	}
}
