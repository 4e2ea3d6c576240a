package election

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashWatchActsOnRefusalsOnly: refused and reset dials are evidence;
// timeouts and other errors are not, and each breaks the streak.
func TestCrashWatchActsOnRefusalsOnly(t *testing.T) {
	refused := &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	timeout := context.DeadlineExceeded
	unreach := &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}
	tests := []struct {
		name   string
		errs   func(i int64) error
		detect bool
	}{
		{"refused", func(int64) error { return refused }, true},
		{"reset", func(int64) error { return reset }, true},
		{"timeout", func(int64) error { return timeout }, false},
		{"unreachable", func(int64) error { return unreach }, false},
		{"refusals broken by timeouts", func(i int64) error {
			if i%2 == 1 { // never two refusals in a row
				return timeout
			}
			return refused
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			w := CrashWatch{
				Addr: "127.0.0.1:1",
				Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return nil, tc.errs(n.Add(1) - 1)
				},
				// The streak must outlast several probes.
				Wait:  func(context.Context) time.Duration { return 30 * time.Millisecond },
				Probe: 10 * time.Millisecond,
			}
			// Detection takes a few probes; non-detection is checked for
			// the half second the context allows.
			bound := 500 * time.Millisecond
			if tc.detect {
				bound = 20 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), bound)
			defer cancel()
			_, err := w.Run(ctx)
			if got := err == nil; got != tc.detect {
				t.Errorf("Run = %v after %d dials; detected %v, want %v", err, n.Load(), got, tc.detect)
			}
			if !tc.detect && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Run = %v; want the context's deadline", err)
			}
		})
	}
}

// TestCrashWatchSeesListenerClose: a real listener that closes (with its
// accepted idle connection) is detected; while it listens, nothing is.
func TestCrashWatchSeesListenerClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	w := CrashWatch{Addr: l.Addr().String(), Wait: func(context.Context) time.Duration { return 50 * time.Millisecond }}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := w.Run(ctx); done <- err }()
	var c net.Conn
	select {
	case c = <-accepted:
	case <-ctx.Done():
		t.Fatal("the watch never connected")
	}
	select {
	case err := <-done:
		t.Fatalf("Run = %v while the listener is up", err)
	case <-time.After(200 * time.Millisecond): // a negative check: nothing happens
	}
	l.Close()
	c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v; want a detection", err)
		}
	case <-ctx.Done():
		t.Fatal("closed listener not detected within 30 s")
	}
}
