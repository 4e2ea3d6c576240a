package chunkserver

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/embedetcd"
)

// TestCommandsBoundedByTheirDeadline: a master sends each command with the
// end of its own lease as deadline. A lease it grants lasts no longer than
// that deadline however long a duration it names (counted from receipt),
// and a command whose deadline passed before it took effect is refused and
// changes nothing.
func TestCommandsBoundedByTheirDeadline(t *testing.T) {
	e := embedetcd.StartT(t)
	etcd := embedetcd.ClientT(t, e)
	cs := startCS(t, etcd, "p", t.TempDir())
	tok := int64(campaign(t, etcd, "127.0.0.1:1").Token())
	c := rawClient(t, cs.Addr())
	for _, h := range []uint64{7, 8} {
		if _, err := c.CreateChunk(t.Context(), &chunkpb.CreateChunkRequest{Token: tok, Handle: h, Version: 1, MaxSize: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}

	// A minute's lease under a master whose own lease ends in 300 ms.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := c.GrantLease(ctx, &chunkpb.GrantLeaseRequest{Token: tok, Handle: 7, Version: 1, DurationMs: 60000})
	cancel()
	if err != nil {
		t.Fatalf("GrantLease within its deadline: %v", err)
	}
	waitUntil(t, 20*time.Second, "the lease to end with its command's deadline, not after the minute it names", func() bool { return !cs.HasLease(7) })

	// Commands whose deadline passed before they took effect (a late
	// delivery, a stalled chunkserver): refused, nothing changed.
	late, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Millisecond))
	defer cancel()
	v := &service{s: cs}
	if _, err := v.GrantLease(late, &chunkpb.GrantLeaseRequest{Token: tok, Handle: 8, Version: 1, DurationMs: 60000}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("GrantLease past its deadline = %v; want DEADLINE_EXCEEDED", err)
	}
	if cs.HasLease(8) {
		t.Error("a GrantLease refused past its deadline left a lease")
	}
	if _, err := v.SetVersion(late, &chunkpb.SetVersionRequest{Token: tok, Handle: 8, From: 1, To: 2}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("SetVersion past its deadline = %v; want DEADLINE_EXCEEDED", err)
	}
	if info, _ := cs.Store().Get(8); info.Version != 1 {
		t.Errorf("a SetVersion refused past its deadline left version %d; want 1", info.Version)
	}
	if _, err := v.DeleteChunks(late, &chunkpb.DeleteChunksRequest{Token: tok, Handles: []uint64{8}}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("DeleteChunks past its deadline = %v; want DEADLINE_EXCEEDED", err)
	}
	if _, ok := cs.Store().Get(8); !ok {
		t.Error("a DeleteChunks refused past its deadline deleted the replica")
	}
}
