package client

import (
	"testing"

	"github.com/gfsha/master/api/chunkpb"
)

// TestPlacement: the writer's placement counts the chunks allocated on
// fewer chunkservers than the master asked for (chunk.replication), and
// the fewest replicas any chunk got.
func TestPlacement(t *testing.T) {
	r := func(id string) *chunkpb.Replica { return &chunkpb.Replica{Id: id} }
	var p Placement
	p.add(&chunkpb.ChunkLease{Primary: r("a"), Secondaries: []*chunkpb.Replica{r("b"), r("c")}, Replication: 3})
	if p.Short() || p != (Placement{Chunks: 1, Replicas: 3, Wanted: 3}) {
		t.Fatalf("after a fully placed chunk: %+v", p)
	}
	p.add(&chunkpb.ChunkLease{Primary: r("a"), Replication: 3})
	p.add(&chunkpb.ChunkLease{Primary: r("a"), Secondaries: []*chunkpb.Replica{r("b")}, Replication: 3})
	if !p.Short() || p != (Placement{Chunks: 3, Replicas: 1, Wanted: 3, UnderReplicated: 2}) {
		t.Fatalf("after two short chunks: %+v; want 3 chunks, fewest 1 replica, 2 under-replicated", p)
	}
	// A master that does not say its replication never makes a warning.
	var old Placement
	old.add(&chunkpb.ChunkLease{Primary: r("a")})
	if old.Short() {
		t.Fatalf("placement from a master without replication: %+v; want no shortfall", old)
	}
}
