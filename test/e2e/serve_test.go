package e2e

import (
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
