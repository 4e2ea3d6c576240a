package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/httpapi"
)

// exported is every metric family a master exports.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := httpapi.NewMetrics(func() cluster.MemberStatus { return cluster.MemberStatus{} })
	m.ChunkserversAttached(func() int { return 0 })
	m.ReplicationHealth(func() (int, int) { return 0, 0 })
	m.RoleChanged(cluster.RolePrimary)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range fams {
		out[f.GetName()] = true
	}
	return out
}

var metricRE = regexp.MustCompile(`\bgfsha_[a-z_]+`)

// checkMetrics fails for every gfsha_ metric in text that no master exports.
func checkMetrics(t *testing.T, file, text string, have map[string]bool) {
	t.Helper()
	for _, name := range metricRE.FindAllString(text, -1) {
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && have[b] {
				base = b
			}
		}
		if !have[base] {
			t.Errorf("%s names %s, which no master exports", file, name)
		}
	}
}

func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("gfsha-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, "gfsha-alerts.yml", string(b), exported(t))
	for _, alert := range []string{"GfshaNoPrimary", "GfshaNoCaughtUpStandby", "GfshaStandbyLagging", "GfshaFailoverStorm",
		"GfshaChunksUnderReplicated", "GfshaEtcdUnreachable"} {
		if !strings.Contains(string(b), "alert: "+alert+"\n") {
			t.Errorf("gfsha-alerts.yml has no alert %s", alert)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package: prometheus); skipping promtool check rules / test rules")
	}
	for _, args := range [][]string{{"check", "rules", "gfsha-alerts.yml"}, {"test", "rules", "gfsha-alerts_test.yml"}} {
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("gfsha-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
			GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("gfsha-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 8 {
		t.Fatalf("dashboard title %q uid %q, %d panels; want a title, a uid and the panels", d.Title, d.UID, len(d.Panels))
	}
	have := exported(t)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.Type == "" || len(p.Targets) == 0 || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %d (%q) lacks a title, type, target or size", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" {
				t.Errorf("panel %q: target without expr or refId", p.Title)
			}
			checkMetrics(t, "panel "+p.Title, tg.Expr, have)
		}
	}
}
