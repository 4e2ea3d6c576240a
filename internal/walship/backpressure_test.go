package walship

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gfsha/master/internal/embedetcd"
)

// heldAppender starts an appender whose first transaction waits, once
// entered, until release is closed.
func heldAppender(t *testing.T, sm *recorder, mod func(*AppenderConfig)) (a *Appender, entered, release chan struct{}) {
	t.Helper()
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	l := lead(t, c)
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	a = newAppender(t, c, l, sm, func(cfg *AppenderConfig) {
		cfg.beforeCommit = func() { once.Do(func() { close(entered); <-release }) }
		if mod != nil {
			mod(cfg)
		}
	})
	// Registered after newAppender's, so it runs first: a test that fails
	// while the commit is held must not leave the appender's close waiting
	// on it for ever.
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return a, entered, release
}

// appendAsync runs Append in a goroutine and returns its error channel.
func appendAsync(ctx context.Context, a *Appender, data string) chan error {
	errc := make(chan error, 1)
	go func() { _, err := a.Append(ctx, []byte(data)); errc <- err }()
	return errc
}

func waitErr(t *testing.T, errc chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("append did not return within 30 s")
		return nil
	}
}

func waitQueued(t *testing.T, a *Appender, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for a.Queued() != n {
		select {
		case <-ctx.Done():
			t.Fatalf("queue holds %d records; want %d", a.Queued(), n)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestAbandonedNeverSent: a record whose caller left while it was queued is
// dropped, not committed, and its error says it was not written.
func TestAbandonedNeverSent(t *testing.T) {
	sm := &recorder{}
	a, entered, release := heldAppender(t, sm, nil)
	first := appendAsync(t.Context(), a, "first")
	<-entered // "first" is being committed; the rest queue behind it
	ctx, cancel := context.WithCancel(t.Context())
	gone := appendAsync(ctx, a, "gone")
	waitQueued(t, a, 1)
	cancel()
	if err := waitErr(t, gone); !errors.Is(err, ErrAbandoned) || !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("abandoned append = %v; want ErrAbandoned and Canceled, not ErrUnknownOutcome", err)
	}
	kept := appendAsync(t.Context(), a, "kept")
	waitQueued(t, a, 2)
	close(release)
	for _, errc := range []chan error{first, kept} {
		if err := waitErr(t, errc); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := sm.data(), []string{"first", "kept"}; !slices.Equal(got, want) {
		t.Errorf("log holds %q; want %q (the abandoned record never sent)", got, want)
	}
	if b := a.QueuedBytes(); b != 0 {
		t.Errorf("QueuedBytes() = %d after the queue drained; want 0", b)
	}
}

// TestQueueFullIsBusy: with the queue at its byte limit, Append waits
// QueueWait for room and then fails with ErrBusy, writing nothing.
func TestQueueFullIsBusy(t *testing.T) {
	sm := &recorder{}
	a, entered, release := heldAppender(t, sm, func(cfg *AppenderConfig) {
		cfg.MaxQueueBytes, cfg.QueueWait = 100, 10*time.Millisecond
	})
	first := appendAsync(t.Context(), a, "first")
	<-entered
	queuedOK := appendAsync(t.Context(), a, string(make([]byte, 40))) // 60 bytes of the 100
	waitQueued(t, a, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := a.Append(ctx, make([]byte, 40)); !errors.Is(err, ErrBusy) {
		t.Fatalf("append to a full queue = %v; want ErrBusy", err)
	}
	close(release)
	for _, errc := range []chan error{first, queuedOK} {
		if err := waitErr(t, errc); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(sm.data()); n != 2 {
		t.Errorf("log holds %d records; want 2 (the refused one not written)", n)
	}
}

// TestQueueFullWaits: a caller that finds the queue full waits for room
// (here, QueueWait is long) and gets in once the batch ahead commits.
func TestQueueFullWaits(t *testing.T) {
	sm := &recorder{}
	a, entered, release := heldAppender(t, sm, func(cfg *AppenderConfig) {
		cfg.MaxQueueBytes, cfg.QueueWait = 100, 30*time.Second
	})
	first := appendAsync(t.Context(), a, "first")
	<-entered
	second := appendAsync(t.Context(), a, string(make([]byte, 40)))
	waitQueued(t, a, 1)
	third := appendAsync(t.Context(), a, string(make([]byte, 40)))
	close(release)
	for _, errc := range []chan error{first, second, third} {
		if err := waitErr(t, errc); err != nil {
			t.Fatal(err)
		}
	}
}
