package client

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gfsha/master/api/masterpb"
)

// TestBatchSizedInBytes: 2,000 mutations with 4 KiB paths (8 MiB) are sent
// in calls of at most maxBatchBytes, each under gRPC's 4 MiB limit; an
// abandoned attempt is never sent.
func TestBatchSizedInBytes(t *testing.T) {
	b := newBatcher(nil)
	long := "/" + strings.Repeat("x", 4094)
	for range 2000 {
		b.pending = append(b.pending, &attempt{m: &masterpb.Mutation{Type: masterpb.Mutation_CREATE, Path: long, ClientId: "1234", Seq: 99, Session: 1 << 40}})
	}
	b.pending[1].state.Store(abandoned)
	calls, total := 0, 0
	for {
		as := b.take()
		if len(as) == 0 {
			break
		}
		calls++
		req := &masterpb.BatchRequest{}
		for _, a := range as {
			if a == nil {
				t.Fatal("take returned a nil attempt")
			}
			req.Mutations = append(req.Mutations, a.m)
		}
		if n := proto.Size(req); n > maxBatchBytes {
			t.Errorf("call %d: %d bytes; want at most %d", calls, n, maxBatchBytes)
		}
		total += len(as)
	}
	if total != 1999 {
		t.Errorf("sent %d mutations; want 1999 (all but the abandoned one)", total)
	}
	if calls < 8 {
		t.Errorf("%d calls for 8 MiB of mutations; want at least 8", calls)
	}
}
