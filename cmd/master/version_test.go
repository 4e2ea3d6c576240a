package main

import (
	"bytes"
	"encoding/json"
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
