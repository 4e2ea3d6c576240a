package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/internal/cluster"
)

// fakeMember answers from fixed values.
type fakeMember struct {
	serving, caughtUp bool
	st                cluster.MemberStatus
}

func (f fakeMember) Serving() bool                { return f.serving }
func (f fakeMember) CaughtUp() bool               { return f.caughtUp }
func (f fakeMember) Status() cluster.MemberStatus { return f.st }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestEndpointCodes(t *testing.T) {
	primary := fakeMember{serving: true, st: cluster.MemberStatus{NodeID: "n1", Role: cluster.RolePrimary, AppliedIndex: 42, Token: 7}}
	standby := fakeMember{caughtUp: true, st: cluster.MemberStatus{NodeID: "n2", Role: cluster.RoleStandby, AppliedIndex: 42}}
	behind := fakeMember{st: cluster.MemberStatus{NodeID: "n3", Role: cluster.RoleCatchingUp, LagEntries: 9}}
	tests := []struct {
		name string
		m    fakeMember
		path string
		want int
	}{
		{"primary healthz", primary, "/healthz", 200},
		{"primary /primary", primary, "/primary", 200},
		{"primary /standby", primary, "/standby", 503},
		{"standby /primary", standby, "/primary", 503},
		{"standby /standby", standby, "/standby", 200},
		{"behind /standby", behind, "/standby", 503},
		{"behind /primary", behind, "/primary", 503},
		{"behind healthz", behind, "/healthz", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(tt.m.Status)
			if got, _ := get(t, Handler(tt.m, m.Registry), tt.path); got != tt.want {
				t.Errorf("GET %s = %d; want %d", tt.path, got, tt.want)
			}
		})
	}
}

func TestStatusAndMetrics(t *testing.T) {
	f := fakeMember{serving: true, st: cluster.MemberStatus{NodeID: "n1", Role: cluster.RolePrimary, AppliedIndex: 42, Token: 7, LagMs: 1500}}
	m := NewMetrics(f.Status)
	m.RoleChanged(cluster.RolePrimary)
	m.BatchCommitted(10, 1000, 3*time.Millisecond)
	h := Handler(f, m.Registry)
	code, body := get(t, h, "/status")
	var st cluster.MemberStatus
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.NodeID != "n1" || st.AppliedIndex != 42 {
		t.Fatalf("/status = %d %s", code, body)
	}
	code, body = get(t, h, "/metrics")
	for _, want := range []string{
		`gfsha_role{role="primary"} 1`,
		`gfsha_build_info{`,
		`gfsha_applied_index 42`,
		`gfsha_token 7`,
		`gfsha_lag_seconds 1.5`,
		`gfsha_append_batch_records_count 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// The role metric is the role /status shows, whatever the node's internal
// role was last reported as (a campaigning standby is a standby).
func TestRoleMetricAgreesWithStatus(t *testing.T) {
	for _, role := range []string{cluster.RoleStandby, cluster.RoleCatchingUp, cluster.RolePrimary} {
		t.Run(role, func(t *testing.T) {
			f := fakeMember{st: cluster.MemberStatus{NodeID: "n2", Role: role}}
			m := NewMetrics(f.Status)
			m.RoleChanged(cluster.RoleCandidate) // what the node reports while it campaigns
			_, body := get(t, Handler(f, m.Registry), "/metrics")
			for _, r := range []string{cluster.RoleStandby, cluster.RoleCatchingUp, cluster.RolePrimary} {
				want := fmt.Sprintf(`gfsha_role{role=%q} 0`, r)
				if r == role {
					want = fmt.Sprintf(`gfsha_role{role=%q} 1`, r)
				}
				if !strings.Contains(body, want) {
					t.Errorf("/metrics with /status role %s lacks %q", role, want)
				}
			}
			if strings.Contains(body, `gfsha_role{role="candidate"} 1`) {
				t.Errorf("/metrics says candidate while /status says %s", role)
			}
		})
	}
}
