package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/internal/faultproxy"
)

// suiteFault is one fault of the fault suite, in the manner of etcd's
// tests/robustness/failpoint: a value with a Name, an Inject that makes it
// happen and a Recover that undoes what a real operator or supervisor would
// (restart a killed process, resume a paused one, heal a partition).
//
// Inject calls s.markInjected at the moment the fault takes effect and
// returns once it has. The suite then waits as the fault's Hold says (for a
// fault that deposes the primary: until another master serves), calls
// Recover, and waits for the whole cluster to be steady again.
type suiteFault interface {
	Name() string
	Inject(t *testing.T, s *faultSuite)
	Recover(t *testing.T, s *faultSuite)
	// Deposes reports whether the fault must cost the primary its
	// leadership; the suite fails if no other master serves in time.
	Deposes() bool
}

// The kinds of fault, as named in the suite's report.
const (
	faultRevoke     = "lease revoke"
	faultKill       = "kill -9 primary"
	faultStop       = "SIGSTOP primary past TTL"
	faultPartition  = "partition primary from etcd"
	faultEtcdMember = "kill etcd follower"
	faultEtcdLeader = "kill etcd leader"
	faultLateView   = "late view + revoke, stale read"
)

// allFaults makes one fault of every kind.
func allFaults() []suiteFault {
	return []suiteFault{&leaseRevoke{}, &killPrimary{}, &stopPrimary{}, &partitionPrimary{}, &killEtcdMember{}, &killEtcdLeader{}, &lateViewRevoke{}}
}

// newFault makes a fresh fault of the kind named.
func newFault(name string) suiteFault {
	for _, f := range allFaults() {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

// leaseRevoke revokes the primary's election lease with the etcd project's
// etcdctl; the primary notices through its watch and steps down.
type leaseRevoke struct{}

func (*leaseRevoke) Name() string  { return faultRevoke }
func (*leaseRevoke) Deposes() bool { return true }

func (*leaseRevoke) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	p, st := s.primaryStatus()
	if st.LeaseID == "" {
		t.Fatalf("%s: primary %s /status has no lease_id: %+v", faultRevoke, p.ID, st)
	}
	s.markInjected()
	r := run(t, 20*time.Second, s.dir, bins.etcdctl, "--endpoints", s.etcd.Endpoints(), "lease", "revoke", st.LeaseID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "revoked") {
		t.Fatalf("etcdctl lease revoke %s (primary %s): %s", st.LeaseID, p.ID, r)
	}
}

func (*leaseRevoke) Recover(*testing.T, *faultSuite) {} // the master rejoins by itself

// killPrimary kills the primary with SIGKILL; Recover restarts it with the
// same flags and data directory.
type killPrimary struct{ m *suiteMaster }

func (*killPrimary) Name() string  { return faultKill }
func (*killPrimary) Deposes() bool { return true }

func (f *killPrimary) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	f.m, _ = s.primaryStatus()
	s.markInjected()
	f.m.Kill(t)
}

func (f *killPrimary) Recover(t *testing.T, s *faultSuite) {
	t.Helper()
	s.c.StartMaster(f.m.Master)
}

// stopPrimary pauses the primary with SIGSTOP; the suite keeps it paused
// until another master serves (its lease ran out meanwhile), and Recover
// resumes it.
type stopPrimary struct{ m *suiteMaster }

func (*stopPrimary) Name() string  { return faultStop }
func (*stopPrimary) Deposes() bool { return true }

func (f *stopPrimary) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	f.m, _ = s.primaryStatus()
	s.markInjected()
	f.m.Stop(t)
	// The kernel stops the threads asynchronously: return once all have.
	pid := f.m.Pid()
	if err := poll(t.Context(), 30*time.Second, func() bool { return allStopped(pid) }); err != nil {
		t.Fatalf("%s: %s (pid %d) not stopped after SIGSTOP: %v", faultStop, f.m.ID, pid, err)
	}
}

func (f *stopPrimary) Recover(t *testing.T, _ *faultSuite) {
	t.Helper()
	f.m.Cont(t)
}

// partitionPrimary cuts the primary off from every etcd member: its proxies
// stop forwarding and hold its connections, until another master serves;
// Recover heals the partition (what was held is then delivered).
type partitionPrimary struct{ m *suiteMaster }

func (*partitionPrimary) Name() string  { return faultPartition }
func (*partitionPrimary) Deposes() bool { return true }

func (f *partitionPrimary) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	f.m, _ = s.primaryStatus()
	s.markInjected()
	for _, p := range f.m.proxies {
		p.Hold()
	}
}

func (f *partitionPrimary) Recover(*testing.T, *faultSuite) {
	for _, p := range f.m.proxies {
		p.Heal()
	}
}

// lateViewDelay is how late the old primary hears from etcd in the
// lateViewRevoke fault: long enough for a failover and one acknowledged
// write, short enough that the old primary's own lease still looks valid to
// it (the suite's TTL is 2 s), so that only the confirmation of each read
// stands between a client and a stale answer.
const lateViewDelay = 1200 * time.Millisecond

// lateViewRevoke delays everything etcd tells the primary, revokes its
// lease, has the new primary acknowledge a create, and at once reads that
// path straight from the old primary: the read must be refused or see the
// create. The old primary's watch cannot have reported the revoke yet, so a
// build whose reads skip their confirmation in etcd answers "not found"
// here on every run. Both operations go into the checked history too.
type lateViewRevoke struct{ m *suiteMaster }

func (*lateViewRevoke) Name() string  { return faultLateView }
func (*lateViewRevoke) Deposes() bool { return true }

func (f *lateViewRevoke) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	p, st := s.primaryStatus()
	if st.LeaseID == "" {
		t.Fatalf("%s: primary %s /status has no lease_id: %+v", faultLateView, p.ID, st)
	}
	f.m = p
	for _, px := range p.proxies {
		px.Delay(faultproxy.FromUpstream, lateViewDelay)
	}
	root := fmt.Sprintf("/probe%d", len(s.events)) // runFault made it
	path := root + "/late"
	s.markInjected()
	r := run(t, 20*time.Second, s.dir, bins.etcdctl, "--endpoints", s.etcd.Endpoints(), "lease", "revoke", st.LeaseID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "revoked") {
		t.Fatalf("etcdctl lease revoke %s (primary %s): %s", st.LeaseID, p.ID, r)
	}
	revoked := time.Now()
	w := s.work.exec(s.checker, 0, nsInput{Part: root, Kind: opCreate, Path: path}, "", 20*time.Second)
	s.hist.add(w)
	if w.Out.Res != resOK {
		t.Fatalf("%s: create %s after revoking %s: %s (%s)", faultLateView, path, p.ID, w.Out.Res, w.Err)
	}
	acked := time.Since(revoked)
	rd := s.work.exec(s.checker, 0, nsInput{Part: root, Kind: opStat, Path: path}, p.ID, 20*time.Second)
	s.hist.add(rd)
	if rd.Out.Res == resNotFound {
		t.Errorf("%s: stale read: deposed %s answered Stat(%s) \"not found\" %v after its lease was revoked, after the new primary acknowledged that create (read confirmation skipped?)",
			faultLateView, p.ID, path, time.Since(revoked).Round(time.Millisecond))
	}
	if acked > lateViewDelay {
		t.Logf("%s: the create was acknowledged %v after the revoke, past the %v late view: this run's read tested nothing", faultLateView, acked.Round(time.Millisecond), lateViewDelay)
	}
}

func (f *lateViewRevoke) Recover(*testing.T, *faultSuite) {
	for _, px := range f.m.proxies {
		px.Heal()
	}
}

// killEtcdMember kills with SIGKILL a random etcd member that is not the
// leader (killEtcdLeader kills that one); Recover restarts it on its data
// directory and waits until it is healthy.
type killEtcdMember struct{ m *etcdMember }

func (*killEtcdMember) Name() string  { return faultEtcdMember }
func (*killEtcdMember) Deposes() bool { return false }

func (f *killEtcdMember) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	leader := s.etcd.WaitLeader(30 * time.Second)
	var followers []*etcdMember
	for _, m := range s.etcd.Members {
		if m != leader {
			followers = append(followers, m)
		}
	}
	f.m = followers[s.rng.IntN(len(followers))]
	s.markInjected()
	f.m.Kill(t)
}

func (f *killEtcdMember) Recover(t *testing.T, s *faultSuite) {
	t.Helper()
	f.m.Start(t)
	s.etcd.WaitHealthy(f.m, 60*time.Second)
}

// killEtcdLeader kills the member that `etcdctl endpoint status` reports as
// the etcd leader; Recover restarts it.
type killEtcdLeader struct{ m *etcdMember }

func (*killEtcdLeader) Name() string  { return faultEtcdLeader }
func (*killEtcdLeader) Deposes() bool { return false }

func (f *killEtcdLeader) Inject(t *testing.T, s *faultSuite) {
	t.Helper()
	f.m = s.etcd.WaitLeader(30 * time.Second)
	s.markInjected()
	f.m.Kill(t)
}

func (f *killEtcdLeader) Recover(t *testing.T, s *faultSuite) {
	t.Helper()
	f.m.Start(t)
	s.etcd.WaitHealthy(f.m, 60*time.Second)
}

// allStopped reports whether every thread of process pid is stopped by a
// signal (state 'T' in /proc/PID/task/TID/stat).
func allStopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, st := range stats {
		b, err := os.ReadFile(st)
		// "tid (comm) state ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}
