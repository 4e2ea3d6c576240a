package ctl_test

import (
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/devcluster"
)

// After a switchover the old primary replays the new one's writes.
func TestOldPrimaryConvergesAfterSwitchover(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	etcd := dc.Masters[0].Etcd()
	waitMembers(t, etcd, 2)
	cl, err := client.New(t.Context(), client.Config{Etcd: etcd, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Mkdir(t.Context(), "/a"); err != nil {
		t.Fatal(err)
	}
	from := dc.Primary().Node.ID()
	to := map[string]string{"n1": "n2", "n2": "n1"}[from]
	if _, err := ctl.Switchover(t.Context(), etcd, "test", to, cl.Conn, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if ds := dc.WaitConverged(t); ds[0] != ds[1] {
		t.Fatalf("digests differ after switchover: %v", ds)
	}
}
