// Package hooks runs the operator's commands on events of a master, as
// Patroni's callbacks: hooks.on_role_change runs with the new role, the
// node, the cluster and the fencing token.
//
// Guarantees: a hook never blocks or delays the master (RoleChanged only
// queues); hooks run one at a time, in order, each killed after the
// timeout; every run is logged with its exit status and the start of its
// output. When hooks fall behind, the oldest queued calls are dropped
// (logged), so the newest role is always reported. Not guaranteed: that a
// hook runs at all (the process may die first), or runs before clients see
// the new primary: use it to move a virtual IP or notify, never for safety.
package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxQueued bounds the calls waiting to run; beyond it the oldest is dropped.
const maxQueued = 8

// Event is one role change.
type Event struct {
	Role  string
	Token int64
}

// Runner runs the role-change hook.
type Runner struct {
	argv    []string
	timeout time.Duration
	node    string
	cluster string
	log     *slog.Logger
	wake    chan struct{} // 1-buffered: something was queued

	mu      sync.Mutex // guards queue and last
	queue   []Event
	last    string
	dropped int
}

// New returns a runner of command (split on spaces: the program, then its
// own arguments; ROLE NODE CLUSTER TOKEN are appended), or nil when command
// is empty. A nil Runner ignores events.
func New(command string, timeout time.Duration, node, cluster string, log *slog.Logger) *Runner {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Runner{argv: argv, timeout: timeout, node: node, cluster: cluster, log: log.With("hook", "on_role_change"),
		wake: make(chan struct{}, 1)}
}

// RoleChanged queues a run for role (the contract's roles: primary,
// standby, catching-up; repeats of the same role are ignored). It never
// blocks.
func (r *Runner) RoleChanged(role string, token int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if role == r.last {
		r.mu.Unlock()
		return
	}
	r.last = role
	if len(r.queue) >= maxQueued {
		r.queue = r.queue[1:]
		r.dropped++
	}
	r.queue = append(r.queue, Event{Role: role, Token: token})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run runs queued hooks until ctx ends (killing the one running then).
func (r *Runner) Run(ctx context.Context) {
	if r == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		for {
			r.mu.Lock()
			if len(r.queue) == 0 {
				r.mu.Unlock()
				break
			}
			ev := r.queue[0]
			r.queue = r.queue[1:]
			dropped := r.dropped
			r.dropped = 0
			r.mu.Unlock()
			if dropped > 0 {
				r.log.Warn("role-change hooks fell behind; dropped the oldest calls", "dropped", dropped)
			}
			r.run(ctx, ev)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// run runs the hook once, bounded by the timeout.
func (r *Runner) run(ctx context.Context, ev Event) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	tok := strconv.FormatInt(ev.Token, 10)
	args := append(append([]string{}, r.argv[1:]...), ev.Role, r.node, r.cluster, tok)
	cmd := exec.CommandContext(ctx, r.argv[0], args...)
	cmd.Env = append(os.Environ(), "GFSHA_ROLE="+ev.Role, "GFSHA_NODE_ID="+r.node, "GFSHA_CLUSTER="+r.cluster, "GFSHA_TOKEN="+tok)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // output pipes held by a child do not stall us
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	attrs := []any{"role", ev.Role, "token", ev.Token, "took", took, "output", strings.TrimSpace(out.String())}
	switch {
	case err == nil:
		r.log.Info("role-change hook ran", attrs...)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.log.Warn("role-change hook killed after hooks.timeout", append(attrs, "timeout", r.timeout)...)
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.log.Warn("role-change hook failed", append(attrs, "exit", ee.ExitCode())...)
		} else {
			r.log.Warn("role-change hook could not run; check hooks.on_role_change", append(attrs, "err", fmt.Sprint(err))...)
		}
	}
}

// limitedBuffer keeps the first 1 KiB written to it.
type limitedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 1024 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
