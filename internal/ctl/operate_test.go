package ctl_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/devcluster"
)

func TestSwitchoverUnderWritesLosesNothing(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	etcd := dc.Masters[0].Etcd()
	waitMembers(t, etcd, 2)
	cl, err := client.New(t.Context(), client.Config{Etcd: etcd, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	from := dc.Primary().Node.ID()
	to := "n1"
	if from == "n1" {
		to = "n2"
	}

	// Refusals first: they change nothing.
	for _, bad := range []string{from, "nosuch"} {
		if _, err := ctl.Switchover(t.Context(), etcd, "test", bad, cl.Conn, 2*time.Second); err == nil {
			t.Fatalf("switchover --to %s succeeded", bad)
		}
	}
	if dc.Primary() == nil || dc.Primary().Node.ID() != from {
		t.Fatal("a refused switchover moved leadership")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var acked atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := cl.Create(ctx, fmt.Sprintf("/s%d-%d", w, i)); err != nil {
					t.Errorf("create during switchover: %v", err)
					return
				}
				acked.Add(1)
			}
		}()
	}
	for acked.Load() < 200 {
		select {
		case <-ctx.Done():
			t.Fatal("writers made no progress")
		case <-time.After(time.Millisecond):
		}
	}
	r, err := ctl.Switchover(ctx, etcd, "test", to, cl.Conn, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mark := acked.Load()
	for acked.Load() < mark+200 {
		select {
		case <-ctx.Done():
			t.Fatal("writers made no progress after the switchover")
		case <-time.After(time.Millisecond):
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("switchover %s → %s in %.1f ms with %d acknowledged creates", r.From, r.To, r.SwitchoverTimeMs, acked.Load())
	if r.From != from || r.To != to || r.NewToken <= r.OldToken {
		t.Fatalf("report = %+v", r)
	}
	es, err := cl.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(es)) != acked.Load() {
		t.Fatalf("%d files after switchover; %d creates were acknowledged", len(es), acked.Load())
	}
	hs := waitHistory(t, etcd, r.NewToken)
	if len(hs) < 2 {
		t.Fatalf("history = %+v", hs)
	}
	if last := hs[len(hs)-1]; last.Reason != "switchover" || last.NewPrimary != to || last.Phases.DetectMs == nil {
		t.Errorf("last history record = %+v; want a switchover to %s with its detect phase", last, to)
	}
	if hs[0].Reason != "first start" {
		t.Errorf("first history record = %+v; want reason first start", hs[0])
	}
}

func TestPausePreventsAutomaticFailover(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	etcd := dc.Masters[0].Etcd()
	waitMembers(t, etcd, 2)
	old := dc.Primary()
	if err := ctl.Pause(t.Context(), etcd, "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Every standby withdraws its candidacy: only the primary's key is left.
	for {
		r, err := etcd.Get(ctx, "/gfsha/test/election/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if r.Count == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("standby did not withdraw while paused")
		case <-time.After(2 * time.Millisecond):
		}
	}
	st, err := ctl.Status(ctx, etcd, "test")
	if err != nil || !st.Paused {
		t.Fatalf("status = %+v, %v; want paused", st, err)
	}
	if _, err := ctl.Failover(ctx, etcd, "test", "", time.Second); err == nil {
		t.Fatal("ctl failover succeeded while paused")
	}
	// The primary dies (its lease revoked): nobody takes over.
	lease, _ := strconv.ParseInt(old.Node.Status().LeaseID, 16, 64)
	if _, err := etcd.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	for old.Node.Serving() {
		select {
		case <-ctx.Done():
			t.Fatal("revoked primary kept serving")
		case <-time.After(time.Millisecond):
		}
	}
	deadline := time.After(1500 * time.Millisecond) // a negative check: nothing to wait for but time
	for done := false; !done; {
		select {
		case <-deadline:
			done = true
		case <-time.After(5 * time.Millisecond):
			if p := dc.Primary(); p != nil {
				t.Fatalf("%s took over while paused", p.Node.ID())
			}
		}
	}
	if err := ctl.Resume(ctx, etcd, "test"); err != nil {
		t.Fatal(err)
	}
	for dc.Primary() == nil {
		select {
		case <-ctx.Done():
			t.Fatal("no primary after resume")
		case <-time.After(2 * time.Millisecond):
		}
	}
}
