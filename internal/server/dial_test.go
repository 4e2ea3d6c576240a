package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/embedetcd"
)

const rootPassword = "s3cret-r00t-Pa55"

// authEtcd starts an embedded etcd with authentication enabled: user root
// with rootPassword. It is closed when the test ends.
func authEtcd(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Options{Dir: filepath.Join(t.TempDir(), "etcd"), NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.UserAdd(ctx, "root", rootPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RoleAdd(ctx, "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	return e.Endpoint()
}

func etcdConfig(endpoint, user, password string) config.Config {
	var cfg config.Config
	cfg.Cluster = "default"
	cfg.Etcd.Endpoints = []string{endpoint}
	// bcrypt in a race-instrumented etcd takes a while on a busy machine.
	cfg.Etcd.DialTimeout = 20 * time.Second
	cfg.Etcd.Username, cfg.Etcd.Password = user, password
	return cfg
}

// TestDialAuth runs Dial and DialRetrying against an etcd that requires
// authentication (one etcd for all: bcrypt makes users slow to set up).
func TestDialAuth(t *testing.T) {
	ep := authEtcd(t)
	t.Run("Dial", func(t *testing.T) { testDial(t, ep) })
	t.Run("DialRetrying refused", func(t *testing.T) { testDialRetryingRefused(t, ep) })
	t.Run("DialRetrying accepted", func(t *testing.T) { testDialRetryingAccepted(t, ep) })
}

func testDial(t *testing.T, ep string) {
	tests := []struct {
		name           string
		user, password string
		wantAuthFailed bool
	}{
		{"right password", "root", rootPassword, false},
		{"wrong password", "root", "not-the-Pa55word", true},
		{"unknown user", "nobody", rootPassword, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(etcdConfig(ep, tt.user, tt.password))
			if tt.wantAuthFailed {
				if !errors.Is(err, rpctypes.ErrAuthFailed) {
					t.Fatalf("Dial = %v; want rpctypes.ErrAuthFailed", err)
				}
				for _, want := range []string{ep, `"` + tt.user + `"`, "etcd.password"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Dial error %q does not mention %s", err, want)
					}
				}
				if strings.Contains(err.Error(), tt.password) {
					t.Errorf("Dial error %q holds the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial = %v; want success", err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if _, err := c.Put(ctx, "/gfsha/default/x", "y"); err != nil {
				t.Errorf("Put as root: %v", err)
			}
		})
	}
}

// testDialRetryingRefused: refused credentials are logged, clearly and
// without the password, and retried until ctx ends.
func testDialRetryingRefused(t *testing.T, ep string) {
	const wrong = "wr0ng-Pa55word"
	const failed = "etcd authentication failed; retrying"
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// The test ends the retries once the second failure is logged.
	buf := &syncBuffer{onWrite: func(log string) {
		if strings.Count(log, failed) >= 2 {
			cancel()
		}
	}}
	log := slog.New(slog.NewTextHandler(buf, nil))
	c, err := DialRetrying(ctx, etcdConfig(ep, "root", wrong), log)
	if err == nil {
		c.Close()
		t.Fatal("DialRetrying with a wrong password succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("DialRetrying = %v; want it to end with ctx, after two logged failures", err)
	}
	out := buf.String()
	if n := strings.Count(out, failed); n < 2 {
		t.Errorf("log has %d authentication failures; want at least 2 (retried):\n%s", n, out)
	}
	if strings.Contains(out, wrong) || strings.Contains(err.Error(), wrong) {
		t.Errorf("the password appears in the log or the error:\n%s\n%v", out, err)
	}
}

func testDialRetryingAccepted(t *testing.T, ep string) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := DialRetrying(ctx, etcdConfig(ep, "root", rootPassword), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestDialRetryingConfigError: a bad TLS file is not retried.
func TestDialRetryingConfigError(t *testing.T) {
	cfg := etcdConfig("127.0.0.1:1", "", "")
	cfg.Etcd.TLS.CA = filepath.Join(t.TempDir(), "missing.pem")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := DialRetrying(ctx, cfg, slog.New(slog.DiscardHandler))
	if !errors.Is(err, config.ErrInvalid) || !strings.HasPrefix(err.Error(), "etcd.tls.ca: ") {
		t.Errorf("DialRetrying with a missing CA file = %v; want config.ErrInvalid naming etcd.tls.ca", err)
	}
	// Retrying would run into the 10 s context; 5 s tells "at once" from
	// that on a loaded machine.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("DialRetrying took %v on a configuration error; want at once", took)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader; onWrite, if
// set, sees everything written so far after each write.
type syncBuffer struct {
	onWrite func(string)
	mu      sync.Mutex // guards b
	b       bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	n, err := s.b.Write(p)
	all := s.b.String()
	s.mu.Unlock()
	if s.onWrite != nil {
		s.onWrite(all)
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
