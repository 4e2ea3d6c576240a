package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/client"
)

// longLease is the production default: what a crash must not wait for.
const longLease = "10s"

// wellBeforeLease bounds a takeover that must not have waited for the 10 s
// lease: generous (a loaded CI machine), yet below what an expiry takes.
const wellBeforeLease = 8 * time.Second

// ctlHistory is `ctl history -o json`.
type ctlHistory struct {
	History []struct {
		NewPrimary string `json:"new_primary"`
		Token      int64  `json:"token"`
		Reason     string `json:"reason"`
		Phases     struct {
			DetectMs *float64 `json:"detect_ms"`
			ElectMs  *float64 `json:"elect_ms"`
			TotalMs  *float64 `json:"total_ms"`
		} `json:"phases"`
	} `json:"history"`
}

func (c *Cluster) History() ctlHistory {
	c.t.Helper()
	r := c.Ctl("history", "-o", "json")
	if r.Code != 0 {
		c.t.Fatalf("ctl history: %s", r)
	}
	var h ctlHistory
	if err := json.Unmarshal([]byte(r.Stdout), &h); err != nil {
		c.t.Fatalf("ctl history -o json: %v: %q", err, r.Stdout)
	}
	return h
}

// waitHistoryReason waits until the history holds the record of token
// and returns its reason.
func (c *Cluster) waitHistoryReason(token int64, bound time.Duration) string {
	c.t.Helper()
	var reason string
	c.waitFor(bound, "history record of the new primary", func() bool {
		for _, r := range c.History().History {
			if r.Token == token {
				reason = r.Reason
				return true
			}
		}
		return false
	})
	return reason
}

// TestKill9ReplacedBeforeLease: with the default 10 s lease, kill -9 of the
// primary is replaced by the standby well before the lease could expire
// (the standby sees the address refuse connections), no acknowledged create
// is lost, and the history says "crash" with its phases. The killed master
// restarted rejoins as a standby; a standby killed and restarted rejoins at
// once (its dead incarnation's lease revoked), the primary untouched.
func TestKill9ReplacedBeforeLease(t *testing.T) {
	c := newCluster(t)
	c.StartEtcd("")
	n1 := c.AddMaster("n1", "--election-lease-ttl", longLease)
	if p := c.WaitPrimary(30*time.Second, ""); p != n1 {
		t.Fatalf("%s serves; want n1", p.ID)
	}
	n2 := c.AddMaster("n2", "--election-lease-ttl", longLease)
	c.WaitRole(n2, "standby", 30*time.Second)
	cl := c.NewClient()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := cl.Create(ctx, "/before"); err != nil {
		t.Fatalf("create /before: %v", err)
	}

	start := time.Now()
	n1.Kill(t)
	if p := c.WaitPrimary(30*time.Second, "n1"); p != n2 {
		t.Fatalf("%s serves; want n2", p.ID)
	}
	took := time.Since(start)
	if err := cl.Create(ctx, "/after"); err != nil {
		t.Fatalf("create /after: %v", err)
	}
	t.Logf("kill -9 of n1: n2 served %v later, with a %s lease", took.Round(time.Millisecond), longLease)
	if took >= wellBeforeLease {
		t.Errorf("n2 served %v after kill -9; want well before the %s lease (crash detection)", took, longLease)
	}
	if _, err := cl.Stat(ctx, "/before"); err != nil {
		t.Errorf("/before lost: %v", err)
	}
	st := c.CtlStatus()
	if reason := c.waitHistoryReason(st.Token, 30*time.Second); reason != "crash" {
		t.Errorf("history reason %q; want crash", reason)
	}
	h := c.History().History
	if last := h[len(h)-1]; last.Phases.DetectMs == nil || last.Phases.ElectMs == nil || last.Phases.TotalMs == nil {
		t.Errorf("crash record %+v lacks detect, elect or total", last)
	}

	// The killed primary restarts and rejoins as a standby.
	c.StartMaster(n1)
	was := c.waitMember("n1", 30*time.Second, func(m memberStatus) bool { return m.Role == "standby" })

	// A standby killed and restarted rejoins at once, with a new lease;
	// the primary stays.
	n1.Kill(t)
	c.StartMaster(n1)
	now := c.waitMember("n1", 30*time.Second, func(m memberStatus) bool { return m.Role == "standby" && m.LeaseID != was.LeaseID })
	if after := c.CtlStatus(); after.Primary != "n2" || after.Token != st.Token {
		t.Errorf("after the standby's restart: primary %s token %d, n1 %+v; want n2 under %d", after.Primary, after.Token, now, st.Token)
	}
}

// waitMember waits until `ctl status` lists id and ok(its entry) holds.
func (c *Cluster) waitMember(id string, bound time.Duration, ok func(memberStatus) bool) memberStatus {
	c.t.Helper()
	var m memberStatus
	c.waitFor(bound, "ctl status to list "+id+" as wanted", func() bool {
		var found bool
		m, found = c.CtlStatus().member(id)
		return found && ok(m)
	})
	return m
}

// TestShortPauseNoFailover: a SIGSTOP of 3 s (shorter than the 10 s lease)
// is not a crash: the connections stay open, nothing refuses, and the same
// primary serves under the same token afterwards.
func TestShortPauseNoFailover(t *testing.T) {
	c := newCluster(t)
	c.StartEtcd("")
	n1 := c.AddMaster("n1", "--election-lease-ttl", longLease)
	if p := c.WaitPrimary(30*time.Second, ""); p != n1 {
		t.Fatalf("%s serves; want n1", p.ID)
	}
	n2 := c.AddMaster("n2", "--election-lease-ttl", longLease)
	c.WaitRole(n2, "standby", 30*time.Second)
	before := c.CtlStatus()

	n1.Stop(t)
	time.Sleep(3 * time.Second) // the fault's length, not a wait for a condition
	n1.Cont(t)

	cl := c.NewClient()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := cl.Create(ctx, "/after-pause"); err != nil {
		t.Fatalf("create after the pause: %v", err)
	}
	after := c.CtlStatus()
	if after.Primary != "n1" || after.Token != before.Token {
		t.Fatalf("after a 3 s pause: primary %s token %d; want n1 under %d (no failover)", after.Primary, after.Token, before.Token)
	}
	if h := c.History().History; len(h) != 1 {
		t.Errorf("history %+v; want only the first start", h)
	}
}

// TestLoneRestartServesAtOnce: a lone master killed with kill -9 and
// restarted serves well before its old 10 s lease could expire: holding its
// data dir's lock proves the old incarnation dead, so it revokes its lease.
func TestLoneRestartServesAtOnce(t *testing.T) {
	c := newCluster(t)
	c.StartEtcd("")
	n1 := c.AddMaster("n1", "--election-lease-ttl", longLease)
	c.WaitPrimary(30*time.Second, "")
	cl := c.NewClient()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := cl.Create(ctx, "/before"); err != nil {
		t.Fatalf("create /before: %v", err)
	}
	old := c.CtlStatus().Token

	n1.Kill(t)
	start := time.Now()
	n1.Start(t)
	c.WaitPrimary(30*time.Second, "")
	took := time.Since(start)
	t.Logf("lone restart after kill -9: serving %v after the process started, with a %s lease", took.Round(time.Millisecond), longLease)
	if took >= wellBeforeLease {
		t.Errorf("served %v after restart; want well before the %s lease (restart takeover)", took, longLease)
	}
	if _, err := cl.Stat(ctx, "/before"); err != nil {
		t.Errorf("/before lost: %v", err)
	}
	st := c.CtlStatus()
	if st.Token <= old {
		t.Errorf("token %d after restart; want above %d", st.Token, old)
	}
	if reason := c.waitHistoryReason(st.Token, 30*time.Second); reason != "restart" {
		t.Errorf("history reason %q; want restart", reason)
	}
}

// TestDuplicateNodeIDRefused: a second `master serve` with a live member's
// node_id, on its own ports and data dir, exits 1 naming the live member
// and its address, and the live member's entry is untouched; one on the
// same data dir exits 1 naming the lock.
func TestDuplicateNodeIDRefused(t *testing.T) {
	c := startCluster(t, "n1")
	n1 := c.Master("n1")
	before := c.CtlStatus()
	serve := func(dataDir string) cmdResult {
		return run(t, 30*time.Second, c.Dir, bins.master, "serve", "--cluster", "default", "--node-id", "n1",
			"--listen", freeAddr(t), "--http-listen", freeAddr(t), "--data-dir", dataDir,
			"--etcd-endpoints", c.EtcdEP, "--election-lease-ttl", leaseTTL)
	}

	r := serve(filepath.Join(c.Dir, "twin.data"))
	if r.Code != 1 || !strings.Contains(r.Stderr, n1.RPC) || !strings.Contains(r.Stderr, "--node-id") {
		t.Errorf("twin on its own data dir: %s; want exit 1 naming n1's address %s and the way out", r, n1.RPC)
	}
	r = serve(filepath.Join(c.Dir, "n1.data"))
	if r.Code != 1 || !strings.Contains(r.Stderr, "LOCK") {
		t.Errorf("twin on n1's data dir: %s; want exit 1 naming the lock", r)
	}

	after := c.CtlStatus()
	m, ok := after.member("n1")
	was, _ := before.member("n1")
	if after.Primary != "n1" || after.Token != before.Token || !ok || m.Address != n1.RPC || m.LeaseID != was.LeaseID {
		t.Errorf("after the twins: primary %s token %d, n1 %+v; want n1 at %s with lease %s under %d", after.Primary, after.Token, m, n1.RPC, was.LeaseID, before.Token)
	}
}

// TestEtcdLeaderLossNoStepDown: killing the etcd leader (of three members)
// under a serial writer costs about etcd's own election: the primary's
// appends are retried in place, it does not step down (same primary, same
// token, no new history record), and every acknowledged create is there.
func TestEtcdLeaderLossNoStepDown(t *testing.T) {
	c := newCluster(t)
	e := newEtcdCluster(t, c.Dir, 3)
	for _, m := range e.Members {
		c.procs = append(c.procs, m.Process)
	}
	e.Start()
	c.EtcdEP = e.Endpoints()
	n1 := c.AddMaster("n1", "--election-lease-ttl", longLease)
	if p := c.WaitPrimary(30*time.Second, ""); p != n1 {
		t.Fatalf("%s serves; want n1", p.ID)
	}
	n2 := c.AddMaster("n2", "--election-lease-ttl", longLease)
	c.WaitRole(n2, "standby", 30*time.Second)
	before := c.CtlStatus()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	cl, err := client.New(ctx, client.Config{Endpoints: e.EndpointList(), Cluster: "default"})
	cancel()
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { cl.Close() })

	// One create at a time; each acknowledged one is remembered with when.
	type ack struct {
		path string
		at   time.Time
	}
	acks := make(chan ack, 10000)
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		defer close(acks)
		for i := 0; ; i++ {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			p := fmt.Sprintf("/w%d", i)
			wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			err := cl.Create(wctx, p)
			cancel()
			if err != nil {
				writerDone <- fmt.Errorf("create %s: %w", p, err)
				return
			}
			acks <- ack{p, time.Now()}
		}
	}()
	var got []ack
	next := func(bound time.Duration) {
		select {
		case a, ok := <-acks:
			if !ok {
				t.Fatalf("writer stopped: %v", <-writerDone)
			}
			got = append(got, a)
		case <-time.After(bound):
			t.Fatalf("no create acknowledged within %v (%d so far)", bound, len(got))
		}
	}
	for len(got) < 20 {
		next(30 * time.Second)
	}
	leader := e.WaitLeader(30 * time.Second)
	killed := time.Now()
	leader.Kill(t)
	for len(got) < 20 || got[len(got)-1].at.Sub(killed) < 2*time.Second || len(got) < 100 {
		next(30 * time.Second)
	}
	close(stop)
	for a := range acks {
		got = append(got, a)
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	var stall time.Duration
	for i := 1; i < len(got); i++ {
		if got[i].at.After(killed) && got[i-1].at.Before(killed.Add(5*time.Second)) {
			from := got[i-1].at
			if from.Before(killed) {
				from = killed
			}
			stall = max(stall, got[i].at.Sub(from))
		}
	}
	t.Logf("etcd leader %s killed under a serial writer: longest wait for the next acknowledged create %v; %d creates", leader.Name, stall.Round(time.Millisecond), len(got))

	after := c.CtlStatus()
	if after.Primary != "n1" || after.Token != before.Token {
		t.Errorf("after the etcd leader's loss: primary %s token %d; want n1 under %d (no step-down)", after.Primary, after.Token, before.Token)
	}
	if h := c.History().History; len(h) != 1 {
		t.Errorf("history %+v; want only the first start", h)
	}
	vctx, vcancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer vcancel()
	for _, a := range got {
		if _, err := cl.Stat(vctx, a.path); err != nil {
			t.Fatalf("acknowledged %s lost: %v", a.path, err)
		}
	}
}
