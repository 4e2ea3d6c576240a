package node

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/incarnation"
)

// TestDuplicateNodeIDRefused: a second node with a live member's node_id
// (its own address and data dir) stops with ErrDuplicateMember naming the
// live member's address, and writes nothing: the member key, the election
// and the live primary are as before.
func TestDuplicateNodeIDRefused(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := t.TempDir()
	n1, _ := startDurable(t, c, "n1", filepath.Join(dir, "a"), peers{})
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	before, err := c.Get(t.Context(), testKeys.Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}

	twin := New(Config{
		Client: c, Keys: testKeys, NodeID: "n1", Address: "twin:7009", LeaseTTL: 10 * time.Second,
		StatusInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), DataDir: filepath.Join(dir, "b"),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = twin.Run(ctx)
	var de *DuplicateMemberError
	if !errors.As(err, &de) || !errors.Is(err, ErrDuplicateMember) {
		t.Fatalf("twin Run = %v; want a DuplicateMemberError", err)
	}
	if de.Address != "n1" || !strings.Contains(err.Error(), "--node-id") {
		t.Errorf("error %q names address %q; want n1's (n1) and the way out", err, de.Address)
	}
	after, err := c.Get(t.Context(), testKeys.Prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	// Nothing of the twin's: every key the twin could have written is as
	// it was (the primary's own status and log may have moved on).
	for _, kv := range after.Kvs {
		k := string(kv.Key)
		if strings.HasPrefix(k, testKeys.Election()) || k == testKeys.Member("n1") {
			if strings.Contains(string(kv.Value), "twin:7009") {
				t.Errorf("%s = %s: written by the twin", k, kv.Value)
			}
		}
	}
	if got, want := countPrefix(after.Kvs, testKeys.Election()), countPrefix(before.Kvs, testKeys.Election()); got != want {
		t.Errorf("%d election keys after the twin; want %d", got, want)
	}
	if !n1.Serving() || n1.Role() != cluster.RolePrimary {
		t.Errorf("n1 role %s serving %v after the twin; want primary, serving", n1.Role(), n1.Serving())
	}
}

func countPrefix(kvs []*mvccpb.KeyValue, pfx string) int {
	n := 0
	for _, kv := range kvs {
		if strings.HasPrefix(string(kv.Key), pfx) {
			n++
		}
	}
	return n
}

// TestRestartRevokesDeadIncarnation: a node whose earlier incarnation died
// holding leadership (its lease recorded in the data dir, kept alive here
// by a long TTL) revokes that lease at start and serves at once, far
// before the lease could have expired, with history reason "restart".
func TestRestartRevokesDeadIncarnation(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	dir := filepath.Join(t.TempDir(), "n1")

	// The dead incarnation: a lease of 60 s that leads and is on record.
	g, err := c.Grant(t.Context(), 60)
	if err != nil {
		t.Fatal(err)
	}
	d, err := incarnation.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Record(int64(g.ID)); err != nil {
		t.Fatal(err)
	}
	d.Close() // the process died: the kernel released its lock
	old := testKeys.Election() + "/dead"
	r, err := c.Put(t.Context(), old, string(cluster.LeaderValue{NodeID: "n1", Address: "n1"}.Encode()), clientv3.WithLease(g.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(t.Context(), testKeys.Member("n1"), `{"node_id":"n1","address":"n1"}`, clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	n1, _ := startDurable(t, c, "n1", dir, peers{})
	waitFor(t, 30*time.Second, "restarted n1 to serve", n1.Serving)
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("served after %v; want well before the old lease's 60 s", took)
	}
	if ttl, err := c.TimeToLive(t.Context(), g.ID); err != nil || ttl.TTL > 0 {
		t.Errorf("old lease TTL %v, %v; want revoked", ttl, err)
	}
	tok := n1.Status().Token
	if tok <= r.Header.Revision {
		t.Errorf("token %d; want above the dead leader's %d", tok, r.Header.Revision)
	}
	waitFor(t, 20*time.Second, "history record", func() bool {
		g, err := c.Get(t.Context(), testKeys.HistoryEntry(tok))
		return err == nil && len(g.Kvs) == 1 && strings.Contains(string(g.Kvs[0].Value), `"reason":"restart"`)
	})
}
