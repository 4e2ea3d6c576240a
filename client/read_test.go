package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/devcluster"
)

func newReadClient(t *testing.T, dc *devcluster.Cluster, rc client.ReadConfig) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test", Read: rc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(c.Members()) < len(dc.Masters) {
		select {
		case <-ctx.Done():
			t.Fatalf("client saw %d members; want %d", len(c.Members()), len(dc.Masters))
		case <-time.After(5 * time.Millisecond):
		}
	}
	return c
}

// Shadows answer linearizable reads: a write acknowledged through the
// primary is seen by a read served by a shadow, and reads from "any" are
// spread over the members.
func TestReadsFromShadows(t *testing.T) {
	dc := devcluster.StartT(t, 3)
	primary := dc.Primary().Node.ID()
	c := newReadClient(t, dc, client.ReadConfig{From: "shadow"})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range 20 {
		p := fmt.Sprintf("/f%d", i)
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		e, info, err := c.StatInfo(ctx, p)
		if err != nil || e.Path != p {
			t.Fatalf("stat %s right after its create, from a shadow: %+v, %+v, %v", p, e, info, err)
		}
		if info.ServedBy == "" || info.ServedBy == primary {
			t.Fatalf("stat %s with read.from shadow served by %q; want a shadow (the primary is %s)", p, info.ServedBy, primary)
		}
	}
	served := map[string]int{}
	ctxAny := client.WithRead(ctx, client.ReadConfig{From: "any"})
	for range 30 {
		_, info, err := c.ListInfo(ctxAny, "/")
		if err != nil {
			t.Fatal(err)
		}
		served[info.ServedBy]++
	}
	if len(served) < 2 {
		t.Errorf("30 reads with read.from any served by %v; want them spread over the members", served)
	}
	_, info, err := c.StatInfo(client.WithRead(ctx, client.ReadConfig{From: "primary"}), "/f0")
	if err != nil || info.ServedBy != primary {
		t.Errorf("stat with read.from primary served by %q, %v; want %s", info.ServedBy, err, primary)
	}
}

// A session client never reads older than its own writes or its earlier
// reads, while its reads move between members.
func TestSessionReadsAcrossMembers(t *testing.T) {
	dc := devcluster.StartT(t, 3)
	c := newReadClient(t, dc, client.ReadConfig{Consistency: "session", From: "any"})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	served := map[string]int{}
	var last uint64
	for i := range 40 {
		p := fmt.Sprintf("/s%d", i)
		if err := c.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		seen := c.SeenIndex()
		_, info, err := c.StatInfo(ctx, p)
		if err != nil {
			t.Fatalf("session stat of %s, right after this client created it (index %d): %+v, %v", p, seen, info, err)
		}
		if info.AppliedIndex < seen || info.AppliedIndex < last {
			t.Fatalf("session read %d answered from index %d; the client had seen %d and read at %d", i, info.AppliedIndex, seen, last)
		}
		last = info.AppliedIndex
		served[info.ServedBy]++
	}
	if len(served) < 2 {
		t.Errorf("session reads served by %v; want several members", served)
	}
	t.Logf("session reads served by %v", served)
}

// A stale read states who answered and its lag.
func TestStaleReadInfo(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	c := newReadClient(t, dc, client.ReadConfig{Consistency: "stale", From: "shadow", MaxLag: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	_, info, err := c.ListInfo(ctx, "/")
	if err != nil || info.ServedBy == "" || info.LagMs < 0 {
		t.Fatalf("stale list = %+v, %v; want served_by and a known lag", info, err)
	}
	if _, _, err := c.ListInfo(client.WithRead(ctx, client.ReadConfig{Consistency: "sometimes"}), "/"); err == nil {
		t.Fatal("read with consistency \"sometimes\" succeeded; want an error naming read.consistency")
	}
}
