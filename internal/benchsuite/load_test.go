package benchsuite

import (
	"context"
	"testing"
	"time"
)

// TestDriveCountsSlowWriters: operations slower than the warmup and the
// measured window together still yield a figure (one counted operation per
// writer), not 0 ops/s. A loaded CI machine made TestRunTiny report RPC
// creates at 0 ops/s this way.
func TestDriveCountsSlowWriters(t *testing.T) {
	const writers = 3
	l, err := Drive(t.Context(), writers, time.Millisecond, time.Millisecond, func(ctx context.Context, _, _ int) error {
		time.Sleep(20 * time.Millisecond) // the slow operation itself, not a wait for a condition
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Ops < writers || l.Elapsed <= 0 {
		t.Fatalf("Drive of ops slower than its window: %d ops in %v; want at least one per writer (%d) and a positive elapsed time", l.Ops, l.Elapsed, writers)
	}
}
