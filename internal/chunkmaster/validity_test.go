package chunkmaster_test

import (
	"testing"
	"time"

	"github.com/gfsha/master/api/chunkpb"
)

// TestChunkLeaseBoundedByMasterLease: a chunk lease never outlives the
// lease of the master that granted it. With chunk leases of a minute and a
// master lease (TTL 10 s) far shorter, the holder's lease ends no later
// than the master's validity (give or take the grant's transit, for which
// the bound allows 5 s; a minute's lease would miss it by 50 s).
func TestChunkLeaseBoundedByMasterLease(t *testing.T) {
	cc := testChunk()
	cc.LeaseDuration = time.Minute
	e := startEnv(t, 1, 3, cc)
	if err := e.cl.Create(e.ctx(30*time.Second), "/v"); err != nil {
		t.Fatal(err)
	}
	p := e.primary()
	sent := time.Now()
	l, err := e.master(p).AllocateChunk(e.ctx(30*time.Second), &chunkpb.AllocateRequest{Path: "/v"})
	if err != nil {
		t.Fatal(err)
	}
	until := p.Node.ServingUntil() // validity only grows: at least what it was at the grant
	// What the master itself counts (and tells the client).
	if d := time.Duration(l.LeaseMs) * time.Millisecond; sent.Add(d).After(until.Add(5 * time.Second)) {
		t.Errorf("the master granted chunk %d a lease of %v, %v past its own lease; want no later (5s allowed)", l.Handle, d, sent.Add(d).Sub(until).Round(time.Millisecond))
	}
	_, holder := e.csByID(l.Primary.GetId())
	asked := time.Now()
	info, err := e.chunkserver(holder).Info(e.ctx(30*time.Second), &chunkpb.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, hl := range info.Leases {
		if hl.Handle != l.Handle {
			continue
		}
		found = true
		expires := asked.Add(time.Duration(hl.RemainingMs-1) * time.Millisecond) // the earliest it can end
		if expires.After(until.Add(5 * time.Second)) {
			t.Errorf("chunk %d's lease on %s ends %v after its master's own lease; want no later (5s allowed for transit)",
				l.Handle, holder.ID(), expires.Sub(until).Round(time.Millisecond))
		}
	}
	if !found {
		t.Fatalf("holder %s reports no lease on chunk %d: %v", holder.ID(), l.Handle, info.Leases)
	}
}
