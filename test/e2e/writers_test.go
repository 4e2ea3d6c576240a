package e2e

import (
	"context"
	"fmt"
	"path"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gfsha/master/client"
)

// writers are concurrent clients creating files /e2e/w{k}/f{i} in the
// background, each through its own client of the public package. They
// create at most budget files in all (Release raises it), paced by one
// shared ticker, and stop at total. A create that returned nil is
// acknowledged; one that returned an error is maybe-applied: it is counted
// apart and nothing is asserted about it.
type writers struct {
	total  int
	dirs   []string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{} // closed once total creates are acknowledged
	once   sync.Once     // guards closing done
	stop   sync.Once

	mu       sync.Mutex // guards the fields below
	budget   int
	inflight int
	acked    []string
	failed   int
	errs     []string // the first few errors, for the log
	ops      []op     // every create, when it started and ended
}

// op is one create call as the client saw it.
type op struct {
	start, end time.Time
	ok         bool
}

// startWriters starts n writers, each with its own client and directory
// (created here, acknowledged), with a budget of 0: Release lets them go.
// Between them they create at most one file per tick of pace.
func startWriters(t *testing.T, c *Cluster, n, total int, pace time.Duration) *writers {
	t.Helper()
	w := &writers{total: total, done: make(chan struct{})}
	setup := c.NewClient()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := setup.Mkdir(ctx, "/e2e"); err != nil {
		t.Fatalf("mkdir /e2e: %v", err)
	}
	clients := make([]*client.Client, n)
	for k := range n {
		w.dirs = append(w.dirs, fmt.Sprintf("/e2e/w%d", k))
		if err := setup.Mkdir(ctx, w.dirs[k]); err != nil {
			t.Fatalf("mkdir %s: %v", w.dirs[k], err)
		}
		clients[k] = c.NewClient()
	}
	wctx, wcancel := context.WithCancel(t.Context())
	w.cancel = wcancel
	tick := time.NewTicker(pace)
	for k := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.run(wctx, clients[k], w.dirs[k], tick.C)
		}()
	}
	t.Cleanup(func() { w.Stop(); tick.Stop() })
	return w
}

func (w *writers) run(ctx context.Context, cl *client.Client, dir string, tick <-chan time.Time) {
	for i := 0; ; i++ {
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case <-tick:
			}
			if w.take() {
				break
			}
		}
		p := fmt.Sprintf("%s/f%d", dir, i)
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := cl.Create(cctx, p)
		cancel()
		w.finish(p, op{start: start, end: time.Now(), ok: err == nil}, err)
	}
}

// take reserves one create under the budget.
func (w *writers) take() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.acked)+w.inflight >= min(w.budget, w.total) {
		return false
	}
	w.inflight++
	return true
}

func (w *writers) finish(p string, o op, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inflight--
	w.ops = append(w.ops, o)
	if err != nil {
		w.failed++
		if len(w.errs) < 5 {
			w.errs = append(w.errs, fmt.Sprintf("create %s: %v", p, err))
		}
		return
	}
	w.acked = append(w.acked, p)
	if len(w.acked) == w.total {
		w.once.Do(func() { close(w.done) })
	}
}

// Release lets n more creates be acknowledged.
func (w *writers) Release(n int) {
	w.mu.Lock()
	w.budget += n
	w.mu.Unlock()
}

// Counts is how many creates were acknowledged and how many failed so far.
func (w *writers) Counts() (acked, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.failed
}

// Acked is a copy of the acknowledged paths so far.
func (w *writers) Acked() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

// Spanning is how many creates, finished by now, were in flight at some
// moment between from and to, and how many of them were acknowledged.
func (w *writers) Spanning(from, to time.Time) (n, acked int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, o := range w.ops {
		if o.start.Before(to) && o.end.After(from) {
			n++
			if o.ok {
				acked++
			}
		}
	}
	return n, acked
}

// Errors is a sample of the errors of maybe-applied creates.
func (w *writers) Errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errs...)
}

// WaitAcked waits until at least n creates are acknowledged.
func (w *writers) WaitAcked(t *testing.T, n int, bound time.Duration) {
	t.Helper()
	err := poll(t.Context(), bound, func() bool {
		a, _ := w.Counts()
		return a >= n
	})
	if err != nil {
		a, f := w.Counts()
		t.Fatalf("waiting for %d acknowledged creates: %v (acknowledged %d, failed %d: %v)", n, err, a, f, w.Errors())
	}
}

// Stop stops the writers and waits for them. It is safe to call twice.
func (w *writers) Stop() {
	w.stop.Do(func() {
		w.cancel()
		w.wg.Wait()
	})
}

// CheckPresent lists the writers' directories through cl (on the primary)
// and fails the test if any create acknowledged before the call is missing.
// It returns how many were checked.
func (w *writers) CheckPresent(t *testing.T, cl *client.Client) int {
	t.Helper()
	acked := w.Acked()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	present := map[string]bool{}
	for _, d := range w.dirs {
		es, err := cl.List(ctx, d)
		if err != nil {
			t.Fatalf("list %s: %v", d, err)
		}
		for _, e := range es {
			present[path.Join(d, e.Name)] = true
		}
	}
	var missing []string
	for _, p := range acked {
		if !present[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("%d of %d acknowledged creates are missing on the primary, e.g. %v", len(missing), len(acked), missing[:min(len(missing), 10)])
	}
	return len(acked)
}
