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

// TestCtlDrill: `ctl drill --count 5` on a real cluster of two master
// processes: five leadership changes under its own workload, nothing lost,
// linearizable.
func TestCtlDrill(t *testing.T) {
	c := startCluster(t, "n1", "n2")
	r := c.Ctl("drill", "--count", "5", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("ctl drill: %s", r)
	}
	var rep struct {
		Rounds []struct {
			Kind, From, To string
		} `json:"rounds"`
		Unavailability map[string]struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50_ms"`
			P99   float64 `json:"p99_ms"`
			Max   float64 `json:"max_ms"`
		} `json:"unavailability"`
		AcknowledgedWrites int      `json:"acknowledged_writes"`
		Lost               []string `json:"lost"`
		Linearizable       bool     `json:"linearizable"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("ctl drill -o json: %v: %q", err, r.Stdout)
	}
	if len(rep.Rounds) != 5 || !rep.Linearizable || len(rep.Lost) != 0 || rep.AcknowledgedWrites == 0 {
		t.Fatalf("drill report = %+v", rep)
	}
	if rep.Unavailability["switchover"].Count != 3 || rep.Unavailability["failover"].Count != 2 {
		t.Errorf("unavailability = %+v; want 3 switchovers and 2 failovers", rep.Unavailability)
	}
	t.Logf("drill: %+v", rep.Unavailability)
}
