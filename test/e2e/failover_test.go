package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/client"
)

// faultResult is what one fault did, for the log.
type faultResult struct {
	fault                string
	from, to             string
	oldToken, newToken   int64
	failover             time.Duration // injection to the new primary seen serving
	catchUpMs, firstWrMs float64       // the new primary's own promotion phases
	replayed             uint64
	ackedDuring          int // creates acknowledged from just before injection to the checks
	failedDuring         int // maybe-applied creates in the same window
	checked              int // acknowledged creates verified present
	digestIndex          uint64
}

// TestFailoverKeepsEveryAcknowledgedCreate is issue 2's end-to-end proof:
// two masters, concurrent clients making 1000 acknowledged creates while,
// one after another, the primary's lease is revoked with etcdctl, `ctl
// failover` runs, the primary is killed with SIGKILL (and restarted), and
// the primary is paused past its lease TTL (and resumed). After each fault a
// different master serves under a strictly higher token, every create
// acknowledged so far is present, the old primary is a standby again, and
// both masters have the same state digest at the same applied index.
func TestFailoverKeepsEveryAcknowledgedCreate(t *testing.T) {
	const (
		total        = 1000
		nWriters     = 8
		beforeFaults = 200                   // acknowledged before the first fault
		perFault     = 160                   // released as each fault starts, so creates run through it
		pace         = 10 * time.Millisecond // at most 100 creates/s between all writers
	)
	c := startCluster(t, "n1", "n2")
	checker := c.NewClient()
	w := startWriters(t, c, nWriters, total, pace)
	w.Release(beforeFaults)
	w.WaitAcked(t, beforeFaults, 60*time.Second)

	faults := []Fault{revokeWithEtcdctl{}, ctlFailover{}, kill9Primary{}, sigstopPastTTL{}}
	var results []faultResult
	for _, f := range faults {
		results = append(results, injectAndCheck(t, c, w, checker, f, perFault))
	}

	w.Release(total)
	select {
	case <-w.done:
	case <-time.After(2 * time.Minute):
		a, f := w.Counts()
		t.Fatalf("only %d of %d creates acknowledged after 2 minutes (%d failed: %v)", a, total, f, w.Errors())
	}
	w.Stop()
	acked, failed := w.Counts()
	if acked != total {
		t.Fatalf("acknowledged %d creates; want exactly %d", acked, total)
	}
	checked := w.CheckPresent(t, checker)
	final := c.CtlStatus()
	p := c.Master(final.Primary)
	idx := c.WaitSameDigest(p, c.Other(p), 30*time.Second)
	t.Logf("all %d acknowledged creates present on %s; %d creates failed (maybe applied, not checked): %v; digests equal at index %d",
		checked, p.ID, failed, w.Errors(), idx)

	var tab strings.Builder
	fmt.Fprintf(&tab, "%-26s %-8s %-7s %12s %11s %10s %8s %6s %6s\n",
		"fault", "from→to", "token", "failover", "catch-up", "1st write", "replayed", "acked", "failed")
	for _, r := range results {
		fmt.Fprintf(&tab, "%-26s %-8s %-7s %12v %9.2fms %8.2fms %8d %6d %6d\n",
			r.fault, r.from+"→"+r.to, fmt.Sprintf("%d→%d", r.oldToken, r.newToken), r.failover.Round(time.Microsecond),
			r.catchUpMs, r.firstWrMs, r.replayed, r.ackedDuring, r.failedDuring)
	}
	t.Logf("failover per fault (injection to the new primary's /primary answering 200):\n%s", tab.String())
}

// injectAndCheck runs one fault while the writers create, then checks what
// issue 2 asks of every failover.
func injectAndCheck(t *testing.T, c *Cluster, w *writers, checker *client.Client, f Fault, release int) faultResult {
	t.Helper()
	before := c.CtlStatus()
	old := c.Master(before.Primary)
	next := c.Other(old)
	ackedBefore, failedBefore := w.Counts()

	// Let creates flow, and inject once some are under way.
	w.Release(release)
	w.WaitAcked(t, ackedBefore+release/8, 30*time.Second)
	seen := c.watchNewPrimary(60*time.Second, old)
	f.Inject(t, c)
	var s primarySeen
	select {
	case s = <-seen:
	case <-t.Context().Done():
		t.Fatalf("%s: %v", f.Name(), t.Context().Err())
	}
	if s.err != nil {
		t.Fatalf("%s: %v", f.Name(), s.err)
	}
	r := faultResult{fault: f.Name(), from: old.ID, to: s.m.ID, oldToken: before.Token, failover: s.at.Sub(c.injectedAt)}
	t.Logf("%s: %s → %s serving %v after injection", f.Name(), old.ID, s.m.ID, r.failover.Round(time.Microsecond))

	// A different master serves, under a strictly higher token.
	if s.m != next {
		t.Fatalf("%s: %s serves; want %s", f.Name(), s.m.ID, next.ID)
	}
	after := c.CtlStatus()
	if after.Primary != next.ID || after.Token <= before.Token {
		t.Fatalf("%s: ctl status says primary %q token %d; want %q with a token above %d", f.Name(), after.Primary, after.Token, next.ID, before.Token)
	}
	r.newToken = after.Token
	if m, ok := after.member(next.ID); ok && m.LastPromotion != nil {
		r.catchUpMs, r.firstWrMs, r.replayed = m.LastPromotion.CatchUpMs, m.LastPromotion.FirstWriteMs, m.LastPromotion.ReplayedEntries
		if m.LastPromotion.Token != after.Token {
			t.Errorf("%s: %s's last_promotion.token = %d; want %d", f.Name(), next.ID, m.LastPromotion.Token, after.Token)
		}
	}

	// Every create acknowledged so far is there.
	r.checked = w.CheckPresent(t, checker)

	// The old primary is a standby again, and does not serve.
	c.WaitRole(old, "standby", 30*time.Second)
	if ok, err := c.Serving(old); ok || err != nil {
		t.Fatalf("%s: old primary %s /primary: serving %v, err %v; want 503", f.Name(), old.ID, ok, err)
	}

	// Both masters reach the same state at the same index.
	r.digestIndex = c.WaitSameDigest(old, next, 30*time.Second)
	a, fl := w.Counts()
	r.ackedDuring, r.failedDuring = a-ackedBefore, fl-failedBefore
	t.Logf("%s: token %d → %d; %d acknowledged creates present; %s rejoined as standby; digests equal at index %d",
		f.Name(), r.oldToken, r.newToken, r.checked, old.ID, r.digestIndex)
	return r
}
