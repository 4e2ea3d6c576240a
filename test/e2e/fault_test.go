package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Fault is one way to take the primary down, in the style of etcd's
// robustness failpoints. Inject calls c.markInjected at the moment the fault
// takes effect, so the caller can time the failover from there; it returns
// once the fault is fully injected (a killed primary restarted, a paused one
// resumed), not necessarily once a new primary serves.
type Fault interface {
	Name() string
	Inject(t *testing.T, c *Cluster)
}

// revokeWithEtcdctl revokes the primary's lease with the etcd project's own
// etcdctl, using the lease_id that `ctl status -o json` prints.
type revokeWithEtcdctl struct{}

func (revokeWithEtcdctl) Name() string { return "etcdctl lease revoke" }

func (revokeWithEtcdctl) Inject(t *testing.T, c *Cluster) {
	t.Helper()
	st := c.statusBefore()
	p, ok := st.member(st.Primary)
	if !ok || p.LeaseID == "" {
		t.Fatalf("ctl status: primary %q has no member entry with a lease_id: %+v", st.Primary, st)
	}
	// The revoke happens while etcdctl runs: this time includes its start.
	c.markInjected()
	r := run(t, 20*time.Second, c.Dir, bins.etcdctl, "--endpoints", c.EtcdEP, "lease", "revoke", p.LeaseID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "revoked") {
		t.Fatalf("etcdctl lease revoke %s (primary %s's lease from ctl status): %s", p.LeaseID, st.Primary, r)
	}
}

// ctlFailover runs `master ctl failover -o json` and checks its report.
type ctlFailover struct{}

func (ctlFailover) Name() string { return "ctl failover" }

// failoverReport is `master ctl failover -o json`.
type failoverReport struct {
	FailedMaster       string   `json:"failed_master"`
	NewPrimary         string   `json:"new_primary"`
	WALEntriesReplayed *uint64  `json:"wal_entries_replayed"`
	FailoverTimeMs     *float64 `json:"failover_time_ms"`
	OldToken           int64    `json:"old_token"`
	NewToken           int64    `json:"new_token"`
}

func (ctlFailover) Inject(t *testing.T, c *Cluster) {
	t.Helper()
	before := c.statusBefore()
	c.markInjected()
	r := c.Ctl("failover", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("ctl failover: %s", r)
	}
	var rep failoverReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("ctl failover -o json: %v: %q", err, r.Stdout)
	}
	switch {
	case rep.FailedMaster != before.Primary:
		t.Errorf("ctl failover: failed_master = %q; want the primary %q", rep.FailedMaster, before.Primary)
	case rep.NewPrimary == "" || rep.NewPrimary == rep.FailedMaster:
		t.Errorf("ctl failover: new_primary = %q; want a master other than %q", rep.NewPrimary, rep.FailedMaster)
	case rep.WALEntriesReplayed == nil || rep.FailoverTimeMs == nil:
		t.Errorf("ctl failover -o json = %s; want wal_entries_replayed and failover_time_ms", r.Stdout)
	case *rep.FailoverTimeMs <= 0:
		t.Errorf("ctl failover: failover_time_ms = %v; want > 0", *rep.FailoverTimeMs)
	case rep.OldToken != before.Token || rep.NewToken <= rep.OldToken:
		t.Errorf("ctl failover: tokens %d → %d; want %d → higher", rep.OldToken, rep.NewToken, before.Token)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("ctl failover reports: %s → %s, token %d → %d, %.1f ms, %d entries replayed",
		rep.FailedMaster, rep.NewPrimary, rep.OldToken, rep.NewToken, *rep.FailoverTimeMs, *rep.WALEntriesReplayed)
}

// kill9Primary kills the primary with SIGKILL and restarts it at once with
// the same flags, so that it rejoins as a standby. Its election key lives
// until its lease expires: failover takes about one lease TTL.
type kill9Primary struct{}

func (kill9Primary) Name() string { return "kill -9 primary" }

func (kill9Primary) Inject(t *testing.T, c *Cluster) {
	t.Helper()
	m := c.Master(c.statusBefore().Primary)
	c.markInjected()
	m.Kill(t)
	c.StartMaster(m)
}

// sigstopPastTTL pauses the primary with SIGSTOP until a different master
// serves (its lease expired meanwhile), then resumes it with SIGCONT.
type sigstopPastTTL struct{}

func (sigstopPastTTL) Name() string { return "SIGSTOP primary past TTL" }

func (sigstopPastTTL) Inject(t *testing.T, c *Cluster) {
	t.Helper()
	m := c.Master(c.statusBefore().Primary)
	c.markInjected()
	m.Stop(t)
	c.WaitPrimary(30*time.Second, m.ID)
	m.Cont(t)
}
