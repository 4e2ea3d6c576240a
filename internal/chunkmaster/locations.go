package chunkmaster

import (
	"context"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/fencing"
)

// term is one leadership's volatile chunk state. Nothing here is logged:
// locations are rebuilt from heartbeats, leases from the chunkservers'
// reports (or waited out).
type term struct {
	m          *Manager
	ctx        context.Context // cancelled when the term ends
	token      fencing.Token
	start      time.Time // monotonic: when this term began
	servingAt  time.Time // wall clock: the node's promotion, for attach times
	graceUntil time.Time // before this, a lease of the previous primary may live unreported

	wg sync.WaitGroup // commands and copies started by the term

	mu        sync.Mutex // guards the fields below
	servers   map[string]*server
	replicas  map[uint64]map[string]*replica // handle -> chunkserver id -> replica
	leases    map[uint64]*lease
	own       map[uint64]bool        // chunks allocated in this term: no older lease can exist
	handleMus map[uint64]*sync.Mutex // per chunk: lease grants, copies and deletes take turns
	lost      map[uint64]bool        // chunks already reported as without a current replica
	copies    int
	// underReplicated and missing are the last scan's counts of chunks
	// with fewer current replicas than the factor, and with none.
	underReplicated, missing int
}

// server is a registered chunkserver.
type server struct {
	id, addr   string
	token      fencing.Token
	lastBeat   time.Time
	registered time.Time
	gen        uint64
	free       int64
	chunks     map[uint64]*replica
}

// replica is one replica as its chunkserver last reported it.
type replica struct {
	version uint64
	size    int64
	// index is the applied index when the replica was first reported: a
	// scan of an older state cannot judge it an orphan.
	index uint64
}

// lease is a chunk lease as this master knows it.
type lease struct {
	primary     string // chunkserver id
	version     uint64
	expires     time.Time     // monotonic; never before the holder's own expiry
	secondaries []string      // chunkserver ids
	token       fencing.Token // of the master that granted it
	reported    []string      // adopted leases: the secondaries' addresses, as the holder reported them
}

func newTerm(m *Manager, ctx context.Context, token fencing.Token) *term {
	now := time.Now()
	t := &term{m: m, ctx: ctx, token: token, start: now, servingAt: now,
		graceUntil: now.Add(leaseBound(m.cfg.LeaseDuration) + 100*time.Millisecond),
		servers:    map[string]*server{}, replicas: map[uint64]map[string]*replica{}, leases: map[uint64]*lease{},
		own: map[uint64]bool{}, handleMus: map[uint64]*sync.Mutex{}, lost: map[uint64]bool{}}
	if p := m.n.Status().LastPromotion; p != nil && p.Token == int64(token) && p.ServingUnixNano != 0 {
		t.servingAt = time.Unix(0, p.ServingUnixNano)
	}
	return t
}

// leaseBound is how long after a lease of duration d was acknowledged the
// master assumes it may live: the holder counts from the grant's receipt,
// earlier than the acknowledgement, and its clock may run slightly slow.
func leaseBound(d time.Duration) time.Duration { return d + d/100 + 50*time.Millisecond }

func (t *term) wait() { t.wg.Wait() }

// go runs fn as the term's goroutine; it is waited for when the term ends.
func (t *term) goFn(fn func()) {
	t.wg.Add(1)
	go func() { defer t.wg.Done(); fn() }()
}

// handleMu is the mutex that orders lease grants, copies and deletions of
// chunk h within the term.
func (t *term) handleMu(h uint64) *sync.Mutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	mu := t.handleMus[h]
	if mu == nil {
		mu = &sync.Mutex{}
		t.handleMus[h] = mu
	}
	return mu
}

func (t *term) aliveLocked(s *server, now time.Time) bool {
	return s != nil && now.Sub(s.lastBeat) < t.m.cfg.DeadAfter
}

// heartbeat handles one heartbeat from a chunkserver that obeys this term's
// token. index is the applied index at its arrival.
func (t *term) heartbeat(r *chunkpb.HeartbeatRequest, index uint64) (*chunkpb.HeartbeatResponse, error) {
	now := time.Now()
	resp := &chunkpb.HeartbeatResponse{Token: int64(t.token), Master: t.m.n.ID(), Registered: true}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.servers[r.Id]
	if s != nil && s.addr != r.Address {
		if t.aliveLocked(s, now) {
			return nil, status.Errorf(codes.AlreadyExists, "chunkserver id %s is in use by the chunkserver at %s, which heartbeats; give the one at %s another --id",
				r.Id, s.addr, r.Address)
		}
		// Restarted elsewhere: start over with it.
		t.dropServerLocked(s)
		s = nil
	}
	if s == nil {
		if !r.Full {
			resp.NeedFull, resp.Registered = true, false
			return resp, nil
		}
		s = &server{id: r.Id, addr: r.Address, registered: now, chunks: map[uint64]*replica{}}
		t.servers[r.Id] = s
		t.m.log.Info("chunkserver attached", "chunkserver", r.Id, "address", r.Address, "chunks", len(r.Chunks),
			"after_serving", time.Since(t.servingAt).Round(time.Millisecond))
	}
	s.lastBeat, s.token, s.free = now, fencing.Token(r.Token), r.FreeBytes
	if !r.Full {
		if r.Generation != s.gen {
			resp.NeedFull = true
		}
		return resp, nil
	}
	s.gen = r.Generation
	seen := make(map[uint64]bool, len(r.Chunks))
	for _, c := range r.Chunks {
		seen[c.Handle] = true
		old := s.chunks[c.Handle]
		rep := &replica{version: c.Version, size: c.Size, index: index}
		if old != nil {
			rep.index = old.index
		}
		s.chunks[c.Handle] = rep
		byServer := t.replicas[c.Handle]
		if byServer == nil {
			byServer = map[string]*replica{}
			t.replicas[c.Handle] = byServer
		}
		byServer[s.id] = rep
	}
	for h := range s.chunks {
		if !seen[h] {
			t.removeReplicaLocked(s, h)
		}
	}
	for _, l := range r.Leases {
		t.adoptLocked(s, l, now)
	}
	return resp, nil
}

// adoptLocked takes over a lease a chunkserver reports holding. A lease this
// term granted is confirmed; one granted by an earlier primary is adopted
// with the remaining time the holder reports, so that no other replica is
// made primary while it may live.
func (t *term) adoptLocked(s *server, l *chunkpb.LeaseInfo, now time.Time) {
	if l.RemainingMs <= 0 {
		return
	}
	expires := now.Add(leaseBound(time.Duration(l.RemainingMs) * time.Millisecond))
	cur := t.leases[l.Handle]
	switch {
	case cur != nil && cur.primary == s.id && cur.version == l.Version:
		if expires.After(cur.expires) {
			cur.expires = expires
		}
	case cur != nil && now.Before(cur.expires):
		// Never expected: two live leases. Keep the known one and wait for
		// both to end before any new grant.
		t.m.log.Error("chunkserver reports a lease that conflicts with a known one", "handle", l.Handle,
			"reported_by", s.id, "known_primary", cur.primary, "reported_token", l.Token)
		if expires.After(cur.expires) {
			cur.expires = expires
		}
	default:
		var secs []string
		for _, addr := range l.Secondaries {
			if id := t.idOfLocked(addr); id != "" {
				secs = append(secs, id)
			}
		}
		t.leases[l.Handle] = &lease{primary: s.id, version: l.Version, expires: expires, secondaries: secs, token: fencing.Token(l.Token),
			reported: append([]string(nil), l.Secondaries...)}
		if fencing.Token(l.Token) != t.token {
			t.m.log.Info("adopted a lease granted by an earlier primary", "handle", l.Handle, "holder", s.id,
				"granted_under", l.Token, "remaining_ms", l.RemainingMs)
		}
	}
}

func (t *term) idOfLocked(addr string) string {
	for _, s := range t.servers {
		if s.addr == addr {
			return s.id
		}
	}
	return ""
}

func (t *term) removeReplicaLocked(s *server, h uint64) {
	delete(s.chunks, h)
	if byServer := t.replicas[h]; byServer != nil {
		delete(byServer, s.id)
		if len(byServer) == 0 {
			delete(t.replicas, h)
		}
	}
}

func (t *term) dropServerLocked(s *server) {
	for h := range s.chunks {
		t.removeReplicaLocked(s, h)
	}
	delete(t.servers, s.id)
}

// expireDead drops the chunkservers that missed their heartbeats; their
// replicas no longer count, and the scan re-replicates them.
func (t *term) expireDead(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.servers {
		if !t.aliveLocked(s, now) {
			t.m.log.Warn("chunkserver dead: no heartbeat", "chunkserver", s.id, "address", s.addr,
				"for", now.Sub(s.lastBeat).Round(time.Millisecond), "replicas", len(s.chunks))
			t.dropServerLocked(s)
		}
	}
}

// currentLocked lists the live chunkservers holding chunk h at version,
// in a stable order (fewest chunks first).
func (t *term) currentLocked(h, version uint64, now time.Time) []*server {
	var out []*server
	for id, r := range t.replicas[h] {
		s := t.servers[id]
		if r.version == version && t.aliveLocked(s, now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *server) int {
		if d := len(a.chunks) - len(b.chunks); d != 0 {
			return d
		}
		return compareStrings(a.id, b.id)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TermSnapshot describes a term, for tests and operators.
type TermSnapshot struct {
	Token        fencing.Token
	Chunkservers []ChunkserverSnapshot
	Replicas     map[uint64][]string // handle -> chunkserver ids (any version)
	Versions     map[uint64]map[string]uint64
	Leases       map[uint64]string // handle -> primary, live leases only
	ServingAt    time.Time
	// GraceUntil is when this term starts granting leases on chunks it did
	// not allocate: until then one granted by the previous primary may live.
	GraceUntil time.Time
}

// ChunkserverSnapshot is one registered chunkserver.
type ChunkserverSnapshot struct {
	ID, Address   string
	Token         fencing.Token
	LastHeartbeat time.Duration
	Chunks        int
	Registered    time.Time
	FreeBytes     int64
}

func (t *term) snapshot() *TermSnapshot {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &TermSnapshot{Token: t.token, Replicas: map[uint64][]string{}, Versions: map[uint64]map[string]uint64{},
		Leases: map[uint64]string{}, ServingAt: t.servingAt, GraceUntil: t.graceUntil}
	for _, s := range t.servers {
		out.Chunkservers = append(out.Chunkservers, ChunkserverSnapshot{ID: s.id, Address: s.addr, Token: s.token,
			LastHeartbeat: now.Sub(s.lastBeat), Chunks: len(s.chunks), Registered: s.registered, FreeBytes: s.free})
	}
	slices.SortFunc(out.Chunkservers, func(a, b ChunkserverSnapshot) int { return compareStrings(a.ID, b.ID) })
	for h, byServer := range t.replicas {
		out.Versions[h] = map[string]uint64{}
		for id, r := range byServer {
			out.Replicas[h] = append(out.Replicas[h], id)
			out.Versions[h][id] = r.version
		}
		slices.Sort(out.Replicas[h])
	}
	for h, l := range t.leases {
		if now.Before(l.expires) {
			out.Leases[h] = l.primary
		}
	}
	return out
}
