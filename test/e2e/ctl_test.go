package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestCtlErrors runs the binary the way an operator would on bad input and
// checks the contract: exit 1 when the operation failed, 2 on bad usage or
// configuration, and one line on stderr that names what failed, never a
// stack trace.
func TestCtlErrors(t *testing.T) {
	c := startCluster(t, "n1")
	for _, args := range [][]string{{"mkdir", "/d"}, {"create", "/d/f"}} {
		if r := c.Ctl(args...); r.Code != 0 {
			t.Fatalf("ctl %s: %s", strings.Join(args, " "), r)
		}
	}
	unreachable := freeAddr(t) // nothing listens there
	serveArgs := func(extra ...string) []string {
		return append([]string{"serve", "--node-id", "bad", "--listen", freeAddr(t), "--http-listen", freeAddr(t),
			"--etcd-endpoints", c.EtcdEP}, extra...)
	}

	tests := []struct {
		name     string
		env      []string
		args     []string
		wantCode int
		want     []string // each must appear on stderr
		notWant  []string // none may appear on stderr
		within   time.Duration
	}{
		// A refused port is reported as such at once, not as a deadline
		// after the (here deliberately long) dial timeout.
		{name: "status with etcd unreachable", args: []string{"ctl", "status", "--etcd-endpoints", unreachable, "--etcd-dial-timeout", "60s"},
			wantCode: 1, want: []string{unreachable, "connection refused"}, notWant: []string{"deadline exceeded"}, within: 30 * time.Second},
		// The command's own --timeout running out is reported as that.
		{name: "failover whose --timeout runs out", args: []string{"ctl", "failover", "--timeout", "1ns", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"--timeout 1ns ran out"}, notWant: []string{"unreachable"}},
		// Credentials in an endpoint: refused as bad configuration, never echoed.
		{name: "endpoint with a password", args: []string{"ctl", "status", "--etcd-endpoints", "http://root:s3cretPW@" + c.EtcdEP},
			wantCode: 2, want: []string{"credentials", "etcd.username"}, notWant: []string{"s3cretPW", "root:"}},
		{name: "create with etcd unreachable", args: []string{"ctl", "create", "/x", "--etcd-endpoints", unreachable},
			wantCode: 1, want: []string{unreachable}, within: 15 * time.Second},
		{name: "create existing file", args: []string{"ctl", "create", "/d/f", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"/d/f", "exists"}},
		{name: "mkdir existing directory", args: []string{"ctl", "mkdir", "/d", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"/d", "exists"}},
		{name: "stat missing path", args: []string{"ctl", "stat", "/d/missing", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"/d/missing", "not found"}},
		{name: "ls missing directory", args: []string{"ctl", "ls", "/nope", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"/nope", "not found"}},
		{name: "create relative path", args: []string{"ctl", "create", "d/g", "--etcd-endpoints", c.EtcdEP},
			want: []string{"d/g"}},
		// Names that would break listings are refused before sending.
		{name: "create with a tab", args: []string{"ctl", "create", "/d/a\tb", "--etcd-endpoints", c.EtcdEP},
			wantCode: 2, want: []string{"byte 4", "control character"}},
		{name: "mkdir with invalid UTF-8", args: []string{"ctl", "mkdir", "/d/\xff", "--etcd-endpoints", c.EtcdEP},
			wantCode: 2, want: []string{"byte 3", "UTF-8"}},
		// A cluster nobody runs: one line at once, exit 1, nothing written
		// (checked below).
		{name: "ls on a cluster nobody runs", args: []string{"ctl", "ls", "/", "--cluster", "nosuch", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"no masters registered for cluster nosuch at " + c.EtcdEP}, within: 20 * time.Second},
		{name: "status on a cluster nobody runs", args: []string{"ctl", "status", "--cluster", "nosuch", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"no masters registered for cluster nosuch at " + c.EtcdEP}, within: 20 * time.Second},
		{name: "pause on a cluster nobody runs", args: []string{"ctl", "pause", "--cluster", "nosuch", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"no masters registered for cluster nosuch at " + c.EtcdEP}, within: 20 * time.Second},
		{name: "failover on a cluster nobody runs", args: []string{"ctl", "failover", "--cluster", "nosuch", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"no masters registered for cluster nosuch"}, within: 20 * time.Second},
		// Failing over from a member that is not the primary does nothing.
		{name: "failover from a member that is not the primary", args: []string{"ctl", "failover", "--from", "nosuch", "--etcd-endpoints", c.EtcdEP},
			wantCode: 1, want: []string{"nosuch"}},
		{name: "serve lease TTL not a duration (flag)", args: serveArgs("--election-lease-ttl", "ten"),
			wantCode: 2, want: []string{"election.lease_ttl"}},
		{name: "serve lease TTL not a duration (env)", env: []string{"MASTER_ELECTION_LEASE_TTL=ten"}, args: serveArgs(),
			wantCode: 2, want: []string{"election.lease_ttl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			within := tc.within
			if within == 0 {
				within = 30 * time.Second
			}
			r := runEnv(t, within+15*time.Second, c.Dir, tc.env, bins.master, tc.args...)
			switch {
			case tc.wantCode != 0 && r.Code != tc.wantCode:
				t.Errorf("master %s: exit %d; want %d (%s)", strings.Join(tc.args, " "), r.Code, tc.wantCode, r)
			case tc.wantCode == 0 && r.Code <= 0:
				t.Errorf("master %s: exit %d; want a failure (%s)", strings.Join(tc.args, " "), r.Code, r)
			}
			if r.Took > within {
				t.Errorf("master %s took %v; want under %v", strings.Join(tc.args, " "), r.Took.Round(time.Millisecond), within)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("master %s: stderr %q does not mention %q", strings.Join(tc.args, " "), r.Stderr, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(r.Stderr+r.Stdout, w) {
					t.Errorf("master %s: output mentions %q:\n%s", strings.Join(tc.args, " "), w, r)
				}
			}
			if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 {
				t.Errorf("master %s: stderr has %d lines; want one:\n%s", strings.Join(tc.args, " "), len(lines), r.Stderr)
			}
			for _, bad := range []string{"goroutine ", "panic:", ".go:", "meta: ", "client: "} {
				if strings.Contains(r.Stderr, bad) {
					t.Errorf("master %s: stderr looks like a stack trace (%q):\n%s", strings.Join(tc.args, " "), bad, r.Stderr)
				}
			}
		})
	}

	// The failed commands changed nothing.
	if out := c.etcdctl("get", "--prefix", "--keys-only", "/gfsha/nosuch"); strings.TrimSpace(out) != "" {
		t.Errorf("keys written for a cluster nobody runs:\n%s", out)
	}
	r := c.Ctl("ls", "/d", "-o", "json")
	var ls struct {
		Entries []struct{ Name string } `json:"entries"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &ls) != nil {
		t.Fatalf("ctl ls /d -o json: %s", r)
	}
	if len(ls.Entries) != 1 || ls.Entries[0].Name != "f" {
		t.Errorf("ctl ls /d = %s; want only f", r.Stdout)
	}
	if r := c.Ctl("stat", "/d/g"); r.Code != 1 {
		t.Errorf("ctl stat /d/g after the relative create: %s; want exit 1 (not found)", r)
	}
}
