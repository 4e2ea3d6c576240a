package ctl_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/devcluster"
)

// TestStatusListsDownMembersUntilRemoved: a member that ran and is gone
// stays in ctl status as down, with when it was last seen, until ctl
// remove forgets it; a running member cannot be removed.
func TestStatusListsDownMembersUntilRemoved(t *testing.T) {
	dc := devcluster.StartT(t, 3)
	etcd, err := dc.Etcd.Client() // not a master's: the test closes one
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { etcd.Close() })
	var victim, running string
	for _, m := range dc.Masters {
		if !m.Node.Serving() && victim == "" {
			victim = m.Node.ID()
			m.Close() // revokes its session: its status key is gone at once
		} else if !m.Node.Serving() {
			running = m.Node.ID()
		}
	}
	if victim == "" || running == "" {
		t.Fatal("no two standbys")
	}
	r, err := ctl.Status(t.Context(), etcd, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Members) != 3 {
		t.Fatalf("status lists %d members; want 3 (one down): %+v", len(r.Members), r.Members)
	}
	for _, m := range r.Members {
		switch m.NodeID {
		case victim:
			if m.Role != cluster.RoleDown || m.LastSeen == nil || time.Since(*m.LastSeen) > time.Minute || m.Address == "" {
				t.Errorf("stopped member = %+v; want role down, its address and a recent last_seen", m)
			}
		default:
			if m.Role == cluster.RoleDown {
				t.Errorf("running member %s shown down", m.NodeID)
			}
		}
	}
	if r.Shadow == victim {
		t.Errorf("shadow = the down member %s", victim)
	}

	if err := ctl.Remove(t.Context(), etcd, "test", running); !errors.Is(err, ctl.ErrMemberAlive) {
		t.Errorf("Remove(running %s) = %v; want ErrMemberAlive", running, err)
	}
	if err := ctl.Remove(t.Context(), etcd, "test", "nobody"); !errors.Is(err, ctl.ErrUnknownMember) {
		t.Errorf("Remove(nobody) = %v; want ErrUnknownMember", err)
	}
	if err := ctl.Remove(t.Context(), etcd, "test", victim); err != nil {
		t.Fatalf("Remove(%s) = %v", victim, err)
	}
	r, err = ctl.Status(t.Context(), etcd, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Members {
		if m.NodeID == victim {
			t.Errorf("removed member still listed: %+v", m)
		}
	}
	if len(r.Members) != 2 {
		t.Errorf("status lists %d members after remove; want 2", len(r.Members))
	}
}
