package chunkmaster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/meta"
)

// The lease rules. A lease makes one replica the primary of a chunk: it
// orders the writes on every replica. This master never lets two leases on
// one chunk live at once:
//
//   - it grants a lease only with the chunk's handle mutex held, and only
//     when it knows of no live lease (its own or one a chunkserver reported);
//   - a new lease always comes with a version bump, logged (OpSetChunkVersion)
//     before any chunkserver hears of it, and only the replicas that took the
//     new version serve or take writes from then on;
//   - a lease granted by an earlier primary is adopted when its holder reports
//     it; until the lease duration has passed since this term began, a chunk
//     not allocated in this term gets no new lease (an unreported one may
//     live). The earlier primary cannot grant anything after that point: the
//     chunkservers learn this term's token from etcd the moment the election
//     changes hands and refuse the older one.

// leaseOf answers with the live lease l.
func (t *term) leaseOf(h uint64, l *lease, now time.Time) *chunkpb.ChunkLease {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &chunkpb.ChunkLease{Handle: h, Version: l.version, ChunkSize: t.m.cfg.ChunkSize, Token: int64(t.token), Replication: int32(t.m.cfg.Replication),
		LeaseMs: max(0, min(l.expires.Sub(now), t.m.cfg.LeaseDuration).Milliseconds())}
	if s := t.servers[l.primary]; s != nil {
		out.Primary = &chunkpb.Replica{Id: s.id, Address: s.addr}
	}
	for _, id := range l.secondaries {
		if s := t.servers[id]; s != nil {
			out.Secondaries = append(out.Secondaries, &chunkpb.Replica{Id: s.id, Address: s.addr})
		}
	}
	return out
}

// lease returns the lease of chunk h (of file path, at version), granting a
// new one when none may live. The caller holds h's handle mutex.
func (t *term) lease(ctx context.Context, path string, h, version uint64) (*chunkpb.ChunkLease, error) {
	now := time.Now()
	t.mu.Lock()
	l := t.leases[h]
	var primary *server
	if l != nil {
		primary = t.servers[l.primary]
	}
	own := t.own[h]
	t.mu.Unlock()
	var fenceVia []string // secondaries of a live lease whose holder is dead
	if l != nil && now.Before(l.expires) {
		holderAlive := t.alive(primary, now)
		if l.version == version && holderAlive {
			if l.token != t.token {
				return t.retag(ctx, path, h, l, primary)
			}
			return t.leaseOf(h, l, now), nil
		}
		if l.version != version || holderAlive || len(l.secondaries) == 0 {
			return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: a lease held by chunkserver %s (version %d) may live for %v more; retry then",
				h, path, l.primary, l.version, l.expires.Sub(now).Round(time.Millisecond))
		}
		// The holder stopped heartbeating but may live, cut off. Its lease
		// can order no write once one of its secondaries has left its
		// version: every write must be applied on every secondary.
		fenceVia = l.secondaries
	}
	if !own && now.Before(t.graceUntil) {
		return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: a lease granted by the previous primary may still live; "+
			"this primary grants a new one in %v, or at once if its holder reports it", h, path, t.graceUntil.Sub(now).Round(time.Millisecond))
	}
	t.mu.Lock()
	current := t.currentLocked(h, version, now)
	t.mu.Unlock()
	if len(current) == 0 {
		return nil, t.noReplica(path, h, version, now)
	}
	// A new lease: bump the version in the log first, then on the replicas.
	r, err := t.m.n.Propose(ctx, meta.Op{Type: meta.OpSetChunkVersion, Handle: h, Version: version + 1})
	if err := proposeErr(r, err); err != nil {
		return nil, err
	}
	next := version + 1
	took := t.each(ctx, current, func(ctx context.Context, s *server) error { return t.setVersion(ctx, s, h, version, next) })
	if len(took) == 0 {
		return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: no replica took version %d; retry", h, path, next)
	}
	if fenceVia != nil {
		if !slices.ContainsFunc(took, func(s *server) bool { return slices.Contains(fenceVia, s.id) }) {
			return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: the lease of the unreachable chunkserver %s could not be fenced through its secondaries %v; it ends in %v",
				h, path, l.primary, fenceVia, l.expires.Sub(time.Now()).Round(time.Millisecond))
		}
		t.m.log.Info("superseded the lease of an unreachable holder", "handle", h, "holder", l.primary, "version", next)
	}
	t.mu.Lock()
	for _, s := range took {
		if rep := s.chunks[h]; rep != nil {
			rep.version = next
		}
	}
	t.mu.Unlock()
	return t.grant(ctx, path, h, next, took)
}

// grant makes one of replicas (all at version) the primary of chunk h.
func (t *term) grant(ctx context.Context, path string, h, version uint64, replicas []*server) (*chunkpb.ChunkLease, error) {
	var lastErr error
	for i, p := range replicas {
		var secs []string
		var secIDs []string
		for j, s := range replicas {
			if j != i {
				secs = append(secs, s.addr)
				secIDs = append(secIDs, s.id)
			}
		}
		d, err := t.grantLease(ctx, p, h, version, secs, t.m.cfg.LeaseDuration)
		if err != nil {
			lastErr = err
			continue
		}
		now := time.Now()
		l := &lease{primary: p.id, version: version, expires: now.Add(leaseBound(d)), secondaries: secIDs, token: t.token}
		t.mu.Lock()
		t.leases[h] = l
		t.mu.Unlock()
		return t.leaseOf(h, l, now), nil
	}
	return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: no replica accepted the lease: %v", h, path, status.Convert(lastErr).Message())
}

// retag confirms an adopted lease l, granted by an earlier primary, under
// this term's token: same holder, same version, for the time it may still
// live. Until then the secondaries, which obey the newer token, refuse the
// writes it forwards. The secondaries are those the holder reported plus
// every other replica known at the lease's version: a write must reach all.
func (t *term) retag(ctx context.Context, path string, h uint64, l *lease, holder *server) (*chunkpb.ChunkLease, error) {
	now := time.Now()
	t.mu.Lock()
	secs := slices.Clone(l.reported)
	var ids []string
	for _, s := range t.currentLocked(h, l.version, now) {
		if s.id != holder.id {
			ids = append(ids, s.id)
			if !slices.Contains(secs, s.addr) {
				secs = append(secs, s.addr)
			}
		}
	}
	left := l.expires.Sub(now)
	t.mu.Unlock()
	left, err := t.grantLease(ctx, holder, h, l.version, secs, left)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: confirm the lease %s holds under token %d: %v", h, path, holder.id, t.token, status.Convert(err).Message())
	}
	now = time.Now()
	t.mu.Lock()
	l.token, l.secondaries = t.token, ids
	if e := now.Add(leaseBound(left)); e.After(l.expires) {
		l.expires = e
	}
	t.mu.Unlock()
	return t.leaseOf(h, l, now), nil
}

// noReplica explains why chunk h has no current replica: the chunkservers
// may still be re-attaching (retry), or the chunk is lost.
func (t *term) noReplica(path string, h, version uint64, now time.Time) error {
	if now.Sub(t.start) < t.m.cfg.DeadAfter+time.Second {
		return status.Errorf(codes.Unavailable, "chunk %d of %s: no chunkserver has reported version %d yet (this primary started %v ago); retry",
			h, path, version, now.Sub(t.start).Round(time.Millisecond))
	}
	t.mu.Lock()
	var have []string
	for id, r := range t.replicas[h] {
		have = append(have, fmt.Sprintf("%s has version %d", id, r.version))
	}
	n := len(t.servers)
	t.mu.Unlock()
	slices.Sort(have)
	if len(have) == 0 {
		have = []string{"no registered chunkserver holds it"}
	}
	return status.Errorf(codes.Unavailable, "chunk %d of %s: no live replica holds the current version %d (%v; %d chunkservers registered); "+
		"restart the chunkservers that held it", h, path, version, have, n)
}

func (t *term) alive(s *server, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.aliveLocked(s, now)
}

// each runs fn on every server concurrently and returns those it succeeded on,
// in their original order.
func (t *term) each(ctx context.Context, ss []*server, fn func(context.Context, *server) error) []*server {
	errs := make([]error, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(ctx, s) }()
	}
	wg.Wait()
	var ok []*server
	for i, s := range ss {
		if errs[i] == nil {
			ok = append(ok, s)
		} else {
			t.m.log.Warn("chunkserver command failed", "chunkserver", s.id, "err", errs[i])
		}
	}
	return ok
}

// allocate appends a chunk to path, creates its replicas and grants its
// first lease. A retry with the same (session, clientID, seq) answers with
// the same chunk.
func (t *term) allocate(ctx context.Context, path string, session uint64, clientID string, seq uint64) (*chunkpb.ChunkLease, error) {
	op := meta.Op{Type: meta.OpAddChunk, Path: path, Session: session, ClientID: clientID, Seq: seq}
	replay := false
	if clientID != "" || session != 0 {
		_, replay = t.m.n.State().Replay(op)
	}
	r, err := t.m.n.Propose(ctx, op)
	if err := proposeErr(r, err); err != nil {
		return nil, err
	}
	h, version := r.Handle, r.Version
	mu := t.handleMu(h)
	mu.Lock()
	defer mu.Unlock()
	now := time.Now()
	t.mu.Lock()
	if !replay {
		t.own[h] = true
	}
	l := t.leases[h]
	current := t.currentLocked(h, version, now)
	t.mu.Unlock()
	if l != nil && now.Before(l.expires) && l.version == version {
		return t.leaseOf(h, l, now), nil // a retry of an allocation that got its lease
	}
	if len(current) == 0 {
		targets := t.pickTargets(t.m.cfg.Replication, nil)
		if len(targets) == 0 {
			return nil, status.Errorf(codes.Unavailable, "allocate a chunk of %s: no live chunkserver with %d bytes free is registered; start chunkservers (`master chunkserver`)",
				path, t.m.cfg.ChunkSize)
		}
		current = t.each(ctx, targets, func(ctx context.Context, s *server) error { return t.createChunk(ctx, s, h, version) })
		if len(current) == 0 {
			return nil, status.Errorf(codes.Unavailable, "allocate chunk %d of %s: no chunkserver could create it; retry", h, path)
		}
		t.mu.Lock()
		idx := t.m.n.State().AppliedIndex()
		for _, s := range current {
			rep := &replica{version: version, index: idx}
			s.chunks[h] = rep
			if t.replicas[h] == nil {
				t.replicas[h] = map[string]*replica{}
			}
			t.replicas[h][s.id] = rep
		}
		t.mu.Unlock()
	}
	if replay {
		// The first attempt may have reached an earlier primary, which may
		// have granted a lease: the general rules apply.
		return t.lease(ctx, path, h, version)
	}
	return t.grant(ctx, path, h, version, current)
}

// pickTargets chooses up to n live chunkservers with room for a chunk,
// fewest replicas first, skipping those in exclude.
func (t *term) pickTargets(n int, exclude map[string]bool) []*server {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var cands []*server
	for _, s := range t.servers {
		if exclude[s.id] || !t.aliveLocked(s, now) || s.free < t.m.cfg.ChunkSize {
			continue
		}
		cands = append(cands, s)
	}
	rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	slices.SortStableFunc(cands, func(a, b *server) int { return len(a.chunks) - len(b.chunks) })
	return cands[:min(n, len(cands))]
}

// proposeErr turns a Propose outcome into a gRPC status error (nil when the
// op was applied).
func proposeErr(r meta.Result, err error) error {
	if err == nil {
		err = r.Err
	}
	if err == nil {
		return nil
	}
	return status.Error(codeOf(err), err.Error())
}
