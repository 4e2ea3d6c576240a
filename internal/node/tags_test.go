package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
)

func startTagged(t *testing.T, c *clientv3.Client, id string, tags cluster.Tags) *Node {
	t.Helper()
	n := New(Config{
		Client: c, Keys: testKeys, NodeID: id, Address: id + ":7001", LeaseTTL: 10 * time.Second,
		StatusInterval: 20 * time.Millisecond, Tags: tags,
		Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// TestFailoverPriorityDecidesElection: n2 campaigns before n3, so without
// tags it would win; n3's higher failover_priority makes n2 step aside.
// n4, tagged nofailover, replays but never campaigns, even when it is the
// only other member with the highest priority.
func TestFailoverPriorityDecidesElection(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n1 := startTagged(t, c, "n1", cluster.Tags{FailoverPriority: 1})
	waitFor(t, 20*time.Second, "n1 to serve", n1.Serving)
	for i := range 5 {
		if err := create(t.Context(), n1, "/f"+string(rune('a'+i)), "c", uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	n2 := startTagged(t, c, "n2", cluster.Tags{FailoverPriority: 1})
	waitFor(t, 20*time.Second, "n2 to campaign", func() bool { return n2.Role() == cluster.RoleCandidate && n2.CaughtUp() })
	n3 := startTagged(t, c, "n3", cluster.Tags{FailoverPriority: 5})
	n4 := startTagged(t, c, "n4", cluster.Tags{FailoverPriority: 9, NoFailover: true})
	head := n1.State().AppliedIndex()
	waitFor(t, 20*time.Second, "n3 to campaign, caught up, and n4 to replay", func() bool {
		return n3.Role() == cluster.RoleCandidate && n3.CaughtUp() && n4.State().AppliedIndex() == head
	})
	if n4.Role() != cluster.RoleStandby {
		t.Errorf("nofailover n4 role = %s; want standby (never a candidate)", n4.Role())
	}
	// Both candidates' published status must show them caught up before
	// the election, as the winner reads it.
	waitFor(t, 20*time.Second, "n2's and n3's published status at the head", func() bool {
		r, err := c.Get(t.Context(), testKeys.Members(), clientv3.WithPrefix())
		if err != nil {
			return false
		}
		at := 0
		for _, kv := range r.Kvs {
			var m cluster.MemberStatus
			if json.Unmarshal(kv.Value, &m) == nil && (m.NodeID == "n2" || m.NodeID == "n3") && m.AppliedIndex == head {
				at++
			}
		}
		return at == 2
	})
	if _, err := c.Revoke(t.Context(), leaseOf(t, n1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a new primary", func() bool { return n2.Serving() || n3.Serving() || n4.Serving() })
	if !n3.Serving() {
		t.Fatalf("n3 (priority 5) does not serve: n2 serving %v, n4 serving %v", n2.Serving(), n4.Serving())
	}
	if n4.Role() != cluster.RoleStandby || n4.Serving() {
		t.Errorf("nofailover n4 role = %s serving %v", n4.Role(), n4.Serving())
	}
	if got := n4.Status().Tags; got == nil || !got.NoFailover || got.FailoverPriority != 9 {
		t.Errorf("n4 status tags = %+v; want nofailover, priority 9", got)
	}
}
