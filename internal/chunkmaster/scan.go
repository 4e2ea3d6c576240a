package chunkmaster

import (
	"time"

	"github.com/gfsha/master/internal/meta"
)

// chunkRef is a chunk as the namespace holds it.
type chunkRef struct {
	version uint64
}

// background runs the term's periodic work: dead-chunkserver detection,
// then a scan that re-replicates, deletes stale replicas and collects
// garbage.
func (t *term) background() {
	tick := time.NewTicker(min(t.m.cfg.ScanInterval, t.m.cfg.DeadAfter/4))
	defer tick.Stop()
	lastScan, took := time.Time{}, time.Duration(0)
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		t.expireDead(now)
		// At most a tenth of a core: a scan that takes long (a huge
		// namespace) runs less often.
		if now.Sub(lastScan) >= max(t.m.cfg.ScanInterval, 10*took) {
			lastScan = now
			t.scan()
			took = time.Since(now)
		}
	}
}

// chunkIndex reads every chunk of the namespace, with its current version,
// from one consistent cut of the state (no directory walk); index is the
// applied index the result reflects. Paths are not kept: log lines name
// chunks by handle.
func chunkIndex(st *meta.State) (refs map[uint64]chunkRef, index uint64, err error) {
	versions, index := st.ChunkVersions()
	refs = make(map[uint64]chunkRef, len(versions))
	for h, v := range versions {
		refs[h] = chunkRef{version: v}
	}
	return refs, index, nil
}

// scan compares the replicas reported with the namespace: replicas of
// chunks no file holds (deleted files) and replicas at an old version are
// deleted; chunks with fewer current replicas than the replication factor
// are copied from a current one.
func (t *term) scan() {
	if !t.m.n.Serving() {
		return
	}
	t.mu.Lock()
	nservers := len(t.servers)
	t.mu.Unlock()
	if nservers == 0 {
		return // no replicas to compare: a metadata-only cluster pays nothing
	}
	refs, index, err := chunkIndex(t.m.n.State())
	if err != nil {
		t.m.log.Warn("chunk scan: read namespace", "err", err)
		return
	}
	now := time.Now()
	type del struct {
		addr, id string
		hs       []uint64
	}
	dels := map[string]*del{}
	t.mu.Lock()
	for _, s := range t.servers {
		if !t.aliveLocked(s, now) {
			continue
		}
		for h, r := range s.chunks {
			ref, known := refs[h]
			orphan := !known && r.index <= index
			// A stale replica is kept while no current one lives: it is
			// never served, but it is all an operator could recover from.
			stale := known && r.version < ref.version && len(t.currentLocked(h, ref.version, now)) > 0
			if !orphan && !stale {
				continue
			}
			mu := t.handleMus[h]
			if mu != nil && !mu.TryLock() {
				continue // a lease grant or a copy is under way
			}
			if mu != nil {
				mu.Unlock()
			}
			d := dels[s.id]
			if d == nil {
				d = &del{addr: s.addr, id: s.id}
				dels[s.id] = d
			}
			d.hs = append(d.hs, h)
			if orphan {
				t.m.log.Info("garbage: replica of a chunk no file holds", "chunkserver", s.id, "handle", h)
			} else {
				t.m.log.Info("stale replica", "chunkserver", s.id, "handle", h, "version", r.version, "current", ref.version)
			}
			t.removeReplicaLocked(s, h)
			if orphan && len(t.replicas[h]) == 0 {
				// No file holds it and no handle is reused: forget it.
				delete(t.leases, h)
				delete(t.own, h)
				delete(t.lost, h)
				delete(t.handleMus, h)
			}
		}
	}
	// Re-replication candidates.
	type need struct {
		h   uint64
		ref chunkRef
	}
	var needs []need
	under, missing := 0, 0
	for h, ref := range refs {
		cur := t.currentLocked(h, ref.version, now)
		switch {
		case len(cur) > t.m.cfg.Replication:
			delete(t.lost, h)
			for _, s := range t.trimmableLocked(h, cur, now) {
				d := dels[s.id]
				if d == nil {
					d = &del{addr: s.addr, id: s.id}
					dels[s.id] = d
				}
				d.hs = append(d.hs, h)
				t.m.log.Info("over-replicated chunk: trimming a replica", "chunkserver", s.id, "handle", h,
					"replicas", len(cur), "replication", t.m.cfg.Replication)
				t.removeReplicaLocked(s, h)
			}
		case len(cur) == t.m.cfg.Replication:
			delete(t.lost, h)
		case len(cur) == 0:
			missing++
			if !t.lost[h] && now.Sub(t.start) > t.m.cfg.DeadAfter+time.Second && len(t.servers) > 0 {
				t.lost[h] = true
				t.m.log.Error("chunk has no live current replica", "handle", h, "version", ref.version)
			}
		default:
			under++
			needs = append(needs, need{h, ref})
		}
	}
	t.underReplicated, t.missing = under, missing
	t.mu.Unlock()

	for _, d := range dels {
		t.goFn(func() {
			if err := t.deleteChunks(t.ctx, d.addr, d.id, d.hs); err != nil {
				t.m.log.Warn("delete replicas", "err", err)
			}
		})
	}
	for _, nd := range needs {
		t.startCopy(nd.h, nd.ref, now)
	}
}

// startCopy copies one more replica of chunk h, when the chunk may not be
// written meanwhile: no lease may live on it (a live one is revoked first,
// when its holder answers).
func (t *term) startCopy(h uint64, ref chunkRef, now time.Time) {
	t.mu.Lock()
	own := t.own[h]
	t.mu.Unlock()
	if !own && now.Before(t.graceUntil) {
		return // an unreported lease of the previous primary may still order writes
	}
	mu := t.handleMu(h)
	if !mu.TryLock() {
		return
	}
	t.mu.Lock()
	if t.copies >= t.m.cfg.MaxCopies {
		t.mu.Unlock()
		mu.Unlock()
		return
	}
	cur := t.currentLocked(h, ref.version, now)
	l := t.leases[h]
	var holder *server
	if l != nil && now.Before(l.expires) {
		holder = t.servers[l.primary]
	}
	exclude := map[string]bool{}
	for id := range t.replicas[h] {
		exclude[id] = true
	}
	t.copies++
	t.mu.Unlock()
	done := func() {
		t.mu.Lock()
		t.copies--
		t.mu.Unlock()
		mu.Unlock()
	}
	if len(cur) == 0 || len(cur) >= t.m.cfg.Replication {
		done()
		return
	}
	targets := t.pickTargets(1, exclude)
	if len(targets) == 0 {
		done()
		return
	}
	target, source := targets[0], cur[0]
	t.goFn(func() {
		defer done()
		if l != nil && now.Before(l.expires) {
			if holder == nil || !t.alive(holder, time.Now()) {
				return // wait for the lease to expire
			}
			if err := t.revokeLease(t.ctx, holder, h); err != nil {
				t.m.log.Warn("re-replication: revoke lease first", "handle", h, "err", err)
				return
			}
			t.mu.Lock()
			if t.leases[h] == l {
				delete(t.leases, h)
			}
			t.mu.Unlock()
		}
		start := time.Now()
		if err := t.copyChunk(t.ctx, target, source.addr, h, ref.version); err != nil {
			t.m.log.Warn("re-replication failed", "handle", h, "from", source.id, "to", target.id, "err", err)
			return
		}
		t.mu.Lock()
		if s := t.servers[target.id]; s == target {
			rep := &replica{version: ref.version, index: t.m.n.State().AppliedIndex()}
			if info := source.chunks[h]; info != nil {
				rep.size = info.size
			}
			s.chunks[h] = rep
			if t.replicas[h] == nil {
				t.replicas[h] = map[string]*replica{}
			}
			t.replicas[h][s.id] = rep
		}
		t.mu.Unlock()
		t.m.log.Info("re-replicated chunk", "handle", h, "version", ref.version, "from", source.id,
			"to", target.id, "took", time.Since(start).Round(time.Millisecond))
	})
}
