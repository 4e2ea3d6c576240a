package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestDownMemberListedUntilRemoved: after kill -9 of a standby, ctl status
// keeps listing it as down, with when it was last seen, until ctl remove;
// a running member cannot be removed.
func TestDownMemberListedUntilRemoved(t *testing.T) {
	c := startCluster(t, "n1", "n2", "n3")
	primary := c.WaitPrimary(30*time.Second, "")
	var victim, other *Master
	for _, m := range c.Masters {
		switch {
		case m == primary:
		case victim == nil:
			victim = m
		default:
			other = m
		}
	}
	victim.Kill(t)
	// Its status key goes with its lease (2 s TTL, or sooner if a standby
	// notices the crash); its registry entry stays.
	var row map[string]any
	c.waitFor(30*time.Second, victim.ID+" listed down", func() bool {
		r := c.Ctl("status", "-o", "json")
		var st struct {
			Members []map[string]any `json:"members"`
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil {
			return false
		}
		for _, m := range st.Members {
			if m["node_id"] == victim.ID && m["role"] == "down" {
				row = m
				return true
			}
		}
		return false
	})
	seen, err := time.Parse(time.RFC3339Nano, row["last_seen"].(string))
	if err != nil || time.Since(seen) > time.Minute || time.Since(seen) < 0 {
		t.Errorf("down member's last_seen = %v (%v); want a recent time", row["last_seen"], err)
	}
	if text := c.Ctl("status"); text.Code != 0 || !strings.Contains(text.Stdout, "WARNING: member "+victim.ID+" is down") {
		t.Errorf("ctl status text does not warn about %s: %s", victim.ID, text)
	}
	if r := c.Ctl("remove", other.ID); r.Code != 1 || !strings.Contains(r.Stderr, "still running") {
		t.Errorf("ctl remove of running %s = %s; want exit 1, still running", other.ID, r)
	}
	if r := c.Ctl("remove", victim.ID); r.Code != 0 {
		t.Fatalf("ctl remove %s: %s", victim.ID, r)
	}
	if _, ok := c.CtlStatus().member(victim.ID); ok {
		t.Errorf("%s still listed after ctl remove", victim.ID)
	}
}
