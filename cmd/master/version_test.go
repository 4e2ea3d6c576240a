package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gfsha/master/internal/config"
)

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestVersionCommand(t *testing.T) {
	out, err := runRoot(t, "version", "-o", "json")
	if err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("version -o json printed %q: %v", out, err)
	}
	for _, k := range []string{"version", "commit", "build_date", "go_version", "etcd_client"} {
		if got[k] == "" {
			t.Errorf("version -o json: %q missing in %s", k, out)
		}
	}
	if !strings.HasPrefix(out, `{"version":`) {
		t.Errorf("version -o json = %s; want version first", out)
	}
	text, err := runRoot(t, "version")
	if err != nil || !strings.Contains(text, "etcd client") {
		t.Errorf("version = %q, %v; want a table naming the etcd client", text, err)
	}
	flag, err := runRoot(t, "--version")
	if err != nil || !strings.HasPrefix(flag, "master "+got["version"]) {
		t.Errorf("--version = %q, %v; want it to start with master %s", flag, err, got["version"])
	}
}

func TestLogFormat(t *testing.T) {
	var text, js bytes.Buffer
	newLoggerTo(&text, config.Log{Level: "info", Format: "text"}).Info("role change", "to", "primary")
	newLoggerTo(&js, config.Log{Level: "info", Format: "json"}).Info("role change", "to", "primary")
	if !strings.Contains(text.String(), `msg="role change" to=primary`) {
		t.Errorf("text log = %q", text.String())
	}
	var m map[string]any
	if err := json.Unmarshal(js.Bytes(), &m); err != nil || m["msg"] != "role change" || m["to"] != "primary" {
		t.Errorf("json log = %q (%v); want one JSON object", js.String(), err)
	}
}

func TestCtlHelpListsOnlyItsFlags(t *testing.T) {
	out, err := runRoot(t, "ctl", "status", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--watch", "--etcd-endpoints", "--tls-ca", "-o, --output", "--timeout duration"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl status --help lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"--chunk-size", "--wal-max-batch-bytes", "--election-lease-ttl", "--etcd-embed", "--tls-client-ca"} {
		if strings.Contains(out, not) {
			t.Errorf("ctl status --help lists the server's %s", not)
		}
	}
	// The server still lists every key, typed.
	out, _ = runRoot(t, "serve", "--help")
	if !strings.Contains(out, "--chunk-replication integer") || !strings.Contains(out, "--election-lease-ttl duration") {
		t.Errorf("serve --help lacks typed key flags:\n%s", out)
	}
}

func TestUserMessage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"create d/g: meta: invalid path: must be absolute", "create d/g: invalid path: must be absolute"},
		{"client: not found: stat /x: meta: not found", "not found: stat /x: not found"},
		{"ls /a: not found: not found", "ls /a: not found"},
		{"config: invalid: election.lease_ttl: bad", "config: invalid: election.lease_ttl: bad"},
	} {
		if got := userMessage(errors.New(tc.in)); got != tc.want {
			t.Errorf("userMessage(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
