package chunkmaster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/server"
)

// TestReportsAdvisoryOnly: a report-only heartbeat neither registers a
// chunkserver with the primary nor hands it a token; a shadow's Locate lists
// only the chunkservers that reported a chunk's current version.
func TestReportsAdvisoryOnly(t *testing.T) {
	e := startEnv(t, 2, 3, testChunk())
	p := e.primary()
	var shadow *server.Server
	for _, m := range e.dc.Masters {
		if m != p {
			shadow = m
		}
	}
	e.put("/a", randData(7, 1000))
	chunks := e.chunksOf("/a")
	if len(chunks) != 1 {
		t.Fatalf("/a has chunks %v; want 1", chunks)
	}
	c := chunks[0]
	report := func(m *server.Server, id, addr string, version uint64) *chunkpb.HeartbeatResponse {
		t.Helper()
		ctx := metadata.AppendToOutgoingContext(e.ctx(10*time.Second), chunkpb.MDReportOnly, "1")
		resp, err := e.master(m).Heartbeat(ctx, &chunkpb.HeartbeatRequest{Id: id, Address: addr, Full: true, Generation: 1,
			Chunks: []*chunkpb.ChunkInfo{{Handle: c.Handle, Version: version}}})
		if err != nil {
			t.Fatalf("report-only heartbeat of %s to %s: %v", id, m.Node.ID(), err)
		}
		return resp
	}
	// To the primary: recorded, not registered, no token.
	if resp := report(p, "fake-new", "127.0.0.1:1", c.Version); resp.Registered || resp.Token != 0 {
		t.Fatalf("primary %s answered a report-only heartbeat with %+v; want neither a registration nor a token", p.Node.ID(), resp)
	}
	if snap := p.Chunks.Snapshot(); snap == nil || slices.ContainsFunc(snap.Chunkservers, func(s chunkmaster.ChunkserverSnapshot) bool { return s.ID == "fake-new" }) {
		t.Fatalf("primary %s registered a chunkserver from a report-only heartbeat: %+v", p.Node.ID(), snap)
	}
	// To the shadow: a stale replica and a current one.
	report(shadow, "fake-old", "127.0.0.1:2", c.Version-1)
	report(shadow, "fake-new", "127.0.0.1:1", c.Version)
	var ids []string
	e.waitFor(30*time.Second, "the shadow's Locate to list the real replicas", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		loc, err := e.master(shadow).Locate(ctx, &chunkpb.LocateRequest{Path: "/a"})
		if err != nil || len(loc.Chunks) != 1 {
			return false
		}
		ids = ids[:0]
		for _, r := range loc.Chunks[0].Replicas {
			ids = append(ids, r.Id)
		}
		return len(ids) == 4 // the three chunkservers and fake-new
	})
	if !slices.Contains(ids, "fake-new") || slices.Contains(ids, "fake-old") {
		t.Fatalf("shadow %s locates chunk %d (version %d) on %v; want fake-new listed and fake-old (version %d) not", shadow.Node.ID(), c.Handle, c.Version, ids, c.Version-1)
	}
}
