package chunkmaster

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/fencing"
	"github.com/gfsha/master/internal/meta"
)

// reported is one chunkserver's last report, as every member keeps it.
// The table is advisory: it answers Locate on a shadow and seeds the next
// term's locations at promotion; leases and versions stay the primary's.
type reported struct {
	addr     string
	token    fencing.Token
	lastBeat time.Time
	gen      uint64
	free     int64
	chunks   map[uint64]uint64 // handle -> version
}

// isReportOnly reports whether the heartbeat in ctx is chunkpb.MDReportOnly.
func isReportOnly(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(chunkpb.MDReportOnly)
	return len(v) > 0 && v[0] == "1"
}

// record keeps r in the manager's location table; needFull says the
// report was incremental but the table has no current full one.
func (m *Manager) record(r *chunkpb.HeartbeatRequest) (needFull bool) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reports == nil {
		m.reports = map[string]*reported{}
	}
	p := m.reports[r.Id]
	if !r.Full {
		if p == nil || p.addr != r.Address || p.gen != r.Generation {
			return true
		}
		p.lastBeat, p.token, p.free = now, fencing.Token(r.Token), r.FreeBytes
		return false
	}
	p = &reported{addr: r.Address, token: fencing.Token(r.Token), lastBeat: now, gen: r.Generation, free: r.FreeBytes,
		chunks: make(map[uint64]uint64, len(r.Chunks))}
	for _, c := range r.Chunks {
		p.chunks[c.Handle] = c.Version
	}
	m.reports[r.Id] = p
	return false
}

// seed fills a new term's locations from the table, so that a new primary
// knows every replica reported to it while it was a shadow. Only
// chunkservers heard from within DeadAfter count; each stays only as long
// as it keeps heartbeating. Leases are not seeded: the term's grace period
// already waits out any lease the previous primary granted.
func (m *Manager) seed(t *term, index uint64) int {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, p := range m.reports {
		if now.Sub(p.lastBeat) >= m.cfg.DeadAfter {
			delete(m.reports, id)
			continue
		}
		s := &server{id: id, addr: p.addr, token: p.token, lastBeat: p.lastBeat, registered: now, gen: p.gen, free: p.free,
			chunks: make(map[uint64]*replica, len(p.chunks))}
		for h, v := range p.chunks {
			rep := &replica{version: v, index: index}
			s.chunks[h] = rep
			byServer := t.replicas[h]
			if byServer == nil {
				byServer = map[string]*replica{}
				t.replicas[h] = byServer
			}
			byServer[id] = rep
		}
		t.servers[id] = s
		n++
	}
	return n
}

// locateShadow answers Locate on a member that is not the serving primary:
// the file is read with the request's read consistency (Config.ShadowRead),
// its replicas come from the advisory table. A chunk without a reported
// current replica is refused with UNAVAILABLE, so the client asks another
// member.
func (v *service) locateShadow(ctx context.Context, r *chunkpb.LocateRequest, notServing error) (*chunkpb.LocateResponse, error) {
	m := v.m
	if m.cfg.ShadowRead == nil {
		return nil, notServing
	}
	var e meta.Entry
	err := m.cfg.ShadowRead(ctx, func(st *meta.State) error {
		var err error
		e, err = st.Stat(r.Path)
		return err
	})
	if err != nil {
		return nil, err
	}
	if e.Dir {
		return nil, status.Errorf(codes.InvalidArgument, "%s is a directory; give a file", r.Path)
	}
	out := &chunkpb.LocateResponse{Path: e.Path, Size: e.Size, ChunkSize: m.cfg.ChunkSize}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range e.Chunks {
		lc := &chunkpb.LocatedChunk{Handle: c.Handle, Version: c.Version}
		for id, p := range m.reports {
			if v, ok := p.chunks[c.Handle]; ok && v == c.Version && now.Sub(p.lastBeat) < m.cfg.DeadAfter {
				lc.Replicas = append(lc.Replicas, &chunkpb.Replica{Id: id, Address: p.addr})
			}
		}
		if len(lc.Replicas) == 0 {
			return nil, status.Errorf(codes.Unavailable, "master %s (not the primary) knows no chunkserver holding version %d of chunk %d of %s; ask another member",
				m.n.ID(), c.Version, c.Handle, e.Path)
		}
		rand.Shuffle(len(lc.Replicas), func(i, j int) { lc.Replicas[i], lc.Replicas[j] = lc.Replicas[j], lc.Replicas[i] })
		out.Chunks = append(out.Chunks, lc)
	}
	return out, nil
}

// Reporting is how many chunkservers reported to this member within
// DeadAfter, whatever its role: the advisory table's size (tests, status).
func (m *Manager) Reporting() int {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range m.reports {
		if now.Sub(p.lastBeat) < m.cfg.DeadAfter {
			n++
		}
	}
	return n
}
