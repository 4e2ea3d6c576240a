package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
)

func TestWriteStatusShowsDownPausedAndWarnings(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := now.Add(-42 * time.Second)
	r := ctl.Report{Cluster: "c", Primary: "n1", Paused: true, Members: []cluster.MemberStatus{
		{NodeID: "n1", Role: cluster.RolePrimary, Tags: &cluster.Tags{FailoverPriority: 1}},
		{NodeID: "n2", Role: cluster.RoleStandby, LagEntries: 5000, LagMs: 2000, Tags: &cluster.Tags{FailoverPriority: 3}},
		{NodeID: "n3", Role: cluster.RoleDown, LastSeen: &seen},
	}}
	var b bytes.Buffer
	if err := writeStatus(&b, r, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"PAUSED", "WARNING: member n3 is down", "WARNING: standby n2 lags 5000 entries",
		"WARNING: no caught-up standby", "42s ago", "priority=3", "LAST SEEN"} {
		if !strings.Contains(out, want) {
			t.Errorf("status text lacks %q:\n%s", want, out)
		}
	}
}
