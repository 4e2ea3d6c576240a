package node

import (
	"errors"
	"testing"
	"time"

	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
)

// TestReadRefusedWhenLeaseEndsDuringIt: a read that began while the lease
// held but finished after it ended is refused, for Read and for
// ReadConfirmed: its answer could come from a state a new primary has
// already overtaken. Serving and ServingUntil say so at once too.
func TestReadRefusedWhenLeaseEndsDuringIt(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	n, _ := startNode(t, c, "n1", nil)
	for _, confirmed := range []bool{false, true} {
		waitFor(t, 20*time.Second, "n1 to serve (again: it is alone)", n.Serving)
		if until := n.ServingUntil(); !time.Now().Before(until) {
			t.Fatalf("a serving node's ServingUntil() = %v; want a time in the future", until)
		}
		id := leaseOf(t, n)
		fn := func(st *meta.State) error {
			// The lease ends while the read runs.
			if _, err := c.Revoke(t.Context(), id); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			waitFor(t, 20*time.Second, "n1 to stop serving", func() bool { return !n.Serving() })
			_, err := st.Stat("/")
			return err
		}
		var err error
		if confirmed {
			err = n.ReadConfirmed(t.Context(), fn)
		} else {
			err = n.Read(fn)
		}
		if !errors.Is(err, ErrNotPrimary) {
			t.Errorf("read (confirmed %v) during which the lease ended = %v; want ErrNotPrimary", confirmed, err)
		}
		if !n.ServingUntil().IsZero() {
			t.Errorf("ServingUntil() = %v once the lease ended; want the zero time", n.ServingUntil())
		}
	}
}
