package hooks_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/devcluster"
	"github.com/gfsha/master/internal/hooks"
)

// script writes an executable shell script that appends its arguments and
// GFSHA_* variables to out, one call per line.
func script(t *testing.T, body string) (path, out string) {
	t.Helper()
	dir := t.TempDir()
	path, out = filepath.Join(dir, "hook.sh"), filepath.Join(dir, "calls")
	text := "#!/bin/sh\n" + strings.ReplaceAll(body, "OUT", out) + "\n"
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, out
}

func waitFile(t *testing.T, path string, done func([]string) bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		b, _ := os.ReadFile(path)
		got := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && done(got) {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s has %q; not what the test waits for", path, b)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRunnerArgsEnvOrderAndDedup(t *testing.T) {
	path, out := script(t, `echo "$* $GFSHA_ROLE $GFSHA_TOKEN" >> OUT`)
	var logs syncBuf
	r := hooks.New(path+" extra", 10*time.Second, "n1", "c1", slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	r.RoleChanged("catching-up", 0)
	r.RoleChanged("catching-up", 0) // a repeat: ignored
	r.RoleChanged("primary", 7)
	got := waitFile(t, out, func(l []string) bool { return len(l) >= 2 })
	want := []string{"extra catching-up n1 c1 0 catching-up 0", "extra primary n1 c1 7 primary 7"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("hook calls = %q; want %q", got, want)
	}
	ctxw, cancelw := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancelw()
	for !strings.Contains(logs.String(), "role=primary") && ctxw.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `msg="role-change hook ran"`) {
		t.Errorf("log lacks the run:\n%s", logs.String())
	}
}

func TestRunnerKillsAfterTimeoutAndNeverBlocks(t *testing.T) {
	path, out := script(t, `echo "$1" >> OUT; [ "$1" = standby ] || exec sleep 60`)
	var logs syncBuf
	r := hooks.New(path, 200*time.Millisecond, "n1", "c1", slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Many changes while the first hangs: RoleChanged never blocks, and
	// the queue keeps the newest.
	roles := []string{"primary", "standby"}
	for i := range 100 {
		r.RoleChanged(roles[i%2], int64(i))
	}
	got := waitFile(t, out, func(l []string) bool { return len(l) >= 2 && l[len(l)-1] == "standby" })
	// Which early calls ran depends on when the runner woke; the newest
	// (standby) always runs, and the queue stays bounded.
	if got[len(got)-1] != "standby" {
		t.Errorf("calls = %q; want the last to be the newest role (standby)", got)
	}
	if len(got) > 10 {
		t.Errorf("%d calls ran; want the queue bounded", len(got))
	}
	for !strings.Contains(logs.String(), "dropped") && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "killed after hooks.timeout") || !strings.Contains(l, "dropped") {
		t.Errorf("log lacks the kill or the drop:\n%s", l)
	}
}

// TestHookRunsOnPromotion: a real master with hooks.on_role_change runs
// the hook with role primary and its token when it starts serving.
func TestHookRunsOnPromotion(t *testing.T) {
	path, out := script(t, `echo "$1 $2 $3 $4" >> OUT`)
	cfg := config.Config{Cluster: "hooks", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	cfg.Hooks.OnRoleChange = path
	cfg.Hooks.Timeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: 1, Logger: slog.New(slog.DiscardHandler),
		Dir: t.TempDir(), NoFsync: true, Chunkservers: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	got := waitFile(t, out, func(l []string) bool { return strings.HasPrefix(l[len(l)-1], "primary ") })
	var primary string
	for _, l := range got {
		if strings.HasPrefix(l, "primary ") {
			primary = l
		}
	}
	f := strings.Fields(primary)
	if len(f) != 4 || f[1] != "n1" || f[2] != "hooks" || f[3] == "0" {
		t.Fatalf("hook calls %q; want one \"primary n1 hooks TOKEN\" with a token", got)
	}
	if tok := dc.Masters[0].Node.Status().Token; f[3] != strconv.FormatInt(tok, 10) {
		t.Errorf("hook token %s; want %d", f[3], tok)
	}
}
