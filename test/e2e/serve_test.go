package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestServeWaitsForEtcd starts a master before its etcd exists: it must keep
// running, say in its log that it is retrying, and become primary once etcd
// comes up on the configured endpoint.
func TestServeWaitsForEtcd(t *testing.T) {
	c := newCluster(t)
	addr := freeAddr(t) // etcd will listen here, later
	etcd := c.NewEtcd(addr)
	m := c.AddMaster("n1")

	start := time.Now()
	c.waitFor(30*time.Second, "n1 to log that etcd is unreachable and it is retrying", func() bool {
		s := m.Stderr()
		return strings.Contains(s, "retrying") || strings.Contains(s, "etcd unreachable")
	})
	t.Logf("n1 logged a retry %v after start", time.Since(start).Round(time.Millisecond))
	if !m.Running() {
		t.Fatal("n1 exited while etcd was unreachable; want it to keep retrying")
	}
	if ok, err := c.Serving(m); ok || err != nil {
		t.Fatalf("n1 /primary without etcd: serving %v, err %v; want 503", ok, err)
	}

	up := time.Now()
	etcd.Start(t)
	c.WaitEtcd(30 * time.Second)
	c.WaitPrimary(30*time.Second, "")
	t.Logf("n1 primary %v after etcd was started", time.Since(up).Round(time.Millisecond))
	if st := c.CtlStatus(); st.Primary != "n1" {
		t.Errorf("ctl status: primary %q; want n1", st.Primary)
	}
}

// TestTermResignsAtOnce stops the primary with SIGTERM: it must exit 0 and
// resign, so the standby serves well before the lease TTL would have run out.
func TestTermResignsAtOnce(t *testing.T) {
	c := startCluster(t, "n1", "n2")
	old := c.Master(c.CtlStatus().Primary)
	next := c.Other(old)
	c.WaitRole(next, "standby", 10*time.Second)

	start := time.Now()
	old.Term(t)
	if got := c.WaitPrimary(10*time.Second, old.ID); got != next {
		t.Fatalf("%s serves; want %s", got.ID, next.ID)
	}
	took := time.Since(start)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code, err := old.Wait(ctx)
	if err != nil || code != 0 {
		t.Fatalf("%s after SIGTERM: exit %d, %v; want exit 0", old.ID, code, err)
	}
	t.Logf("%s resigned on SIGTERM; %s serving %v later", old.ID, next.ID, took.Round(time.Microsecond))
	if ttl, _ := time.ParseDuration(leaseTTL); took >= ttl {
		t.Errorf("%s served %v after SIGTERM; want well under the lease TTL %v (a resign, not an expiry)", next.ID, took, ttl)
	}
}
