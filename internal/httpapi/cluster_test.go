package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/devcluster"
)

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The endpoints of a real primary and a real caught-up standby.
func TestEndpointsOnPrimaryAndStandby(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	primary := dc.WaitStable(t)
	var standby = dc.Masters[0]
	if standby == primary {
		standby = dc.Masters[1]
	}
	tests := []struct {
		who  string
		addr string
		path string
		want int
	}{
		{"primary", primary.HTTPAddr(), "/healthz", 200},
		{"primary", primary.HTTPAddr(), "/primary", 200},
		{"primary", primary.HTTPAddr(), "/standby", 503},
		{"primary", primary.HTTPAddr(), "/status", 200},
		{"primary", primary.HTTPAddr(), "/metrics", 200},
		{"standby", standby.HTTPAddr(), "/healthz", 200},
		{"standby", standby.HTTPAddr(), "/primary", 503},
		{"standby", standby.HTTPAddr(), "/standby", 200},
		{"standby", standby.HTTPAddr(), "/status", 200},
		{"standby", standby.HTTPAddr(), "/metrics", 200},
	}
	for _, tt := range tests {
		if got, _ := fetch(t, "http://"+tt.addr+tt.path); got != tt.want {
			t.Errorf("%s GET %s = %d; want %d", tt.who, tt.path, got, tt.want)
		}
	}
	_, body := fetch(t, "http://"+standby.HTTPAddr()+"/status")
	var st cluster.MemberStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Role != cluster.RoleStandby || st.LeaseID == "" {
		t.Errorf("standby /status = %s (%v); want role standby with its lease", body, err)
	}
	_, metrics := fetch(t, "http://"+primary.HTTPAddr()+"/metrics")
	for _, want := range []string{`gfsha_role{role="primary"} 1`, "gfsha_token ", "gfsha_append_commit_seconds_bucket", "gfsha_failover_catch_up_seconds_count 1", "gfsha_chunkservers_attached"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("primary /metrics lacks %q", want)
		}
	}
}
