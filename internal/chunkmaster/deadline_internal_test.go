package chunkmaster

import (
	"context"
	"testing"
	"time"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
)

// leaseNode is a Node whose lease as primary holds until a fixed instant.
type leaseNode struct{ until time.Time }

func (f leaseNode) ID() string { return "n1" }
func (f leaseNode) Propose(context.Context, meta.Op) (meta.Result, error) {
	return meta.Result{}, nil
}
func (f leaseNode) Read(fn func(*meta.State) error) error { return fn(meta.New()) }
func (f leaseNode) State() *meta.State                    { return meta.New() }
func (f leaseNode) Serving() bool                         { return time.Now().Before(f.until) }
func (f leaseNode) ServingUntil() time.Time               { return f.until }
func (f leaseNode) Promoted() <-chan struct{}             { return make(chan struct{}) }
func (f leaseNode) Status() cluster.MemberStatus          { return cluster.MemberStatus{} }
func (f leaseNode) Leader() cluster.LeaderValue           { return cluster.LeaderValue{} }

// TestCommandDeadlineBoundedByMasterLease: every command to a chunkserver
// (a revoke, a version bump, not only a lease grant) carries a deadline no
// later than the end of the master's lease, even when its own timeout is
// longer, so that the chunkserver refuses it once a new primary may act.
// Nothing is sent: the test only inspects the context a command would use.
func TestCommandDeadlineBoundedByMasterLease(t *testing.T) {
	until := time.Now().Add(time.Hour)
	m := New(leaseNode{until: until}, Config{})
	t.Cleanup(m.closeConns)
	tm := &term{m: m, ctx: t.Context()}
	for _, timeout := range []time.Duration{commandTimeout, 2 * time.Hour} {
		_, ctx, cancel, err := tm.command(t.Context(), "127.0.0.1:1", timeout)
		if err != nil {
			t.Fatalf("command with the lease held: %v", err)
		}
		dl, ok := ctx.Deadline()
		cancel()
		if !ok {
			t.Fatalf("command (timeout %v) has no deadline", timeout)
		}
		want := time.Now().Add(timeout)
		if until.Before(want) {
			want = until
		}
		if dl.After(want) {
			t.Errorf("command with timeout %v: deadline %v after the sooner of the timeout and the master's lease", timeout, dl.Sub(want))
		}
	}
	// No lease, no command.
	m2 := New(leaseNode{}, Config{})
	t.Cleanup(m2.closeConns)
	if _, _, _, err := (&term{m: m2, ctx: t.Context()}).command(t.Context(), "127.0.0.1:1", commandTimeout); err == nil {
		t.Error("command without a lease succeeded; want it refused")
	}
}
