package chunkmaster

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/meta"
)

// Problems fsck reports for a chunk.
const (
	ProblemMissing         = "missing"          // no live chunkserver holds the current version
	ProblemUnderReplicated = "under-replicated" // fewer current replicas than chunk.replication
	ProblemOverReplicated  = "over-replicated"  // more (the scan trims them)
	ProblemCorrupt         = "corrupt"          // a chunkserver reports a version the namespace never gave it
)

// maxFsckProblems bounds the problems listed in one answer (the counts
// stay exact).
const maxFsckProblems = 10000

// Fsck checks every file's chunks under r.Path against the replication
// factor, from this primary's view of the chunkservers' reports. A replica
// a chunkserver quarantined as corrupt (a failed checksum) is no longer
// reported, so it shows as a missing replica until it is copied again.
func (v *service) Fsck(ctx context.Context, r *chunkpb.FsckRequest) (*chunkpb.FsckResponse, error) {
	t, err := v.m.activeTerm(ctx, 0)
	if err != nil {
		return nil, err
	}
	path := r.Path
	if path == "" {
		path = "/"
	}
	var files []meta.Entry
	if err := v.m.n.Read(func(st *meta.State) error {
		var err error
		files, err = walkFiles(st, path)
		return err
	}); err != nil {
		return nil, status.Error(codeOf(err), err.Error())
	}
	out := &chunkpb.FsckResponse{Path: path, Replication: int32(v.m.cfg.Replication), Primary: v.m.n.ID()}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.servers {
		if t.aliveLocked(s, now) {
			out.Chunkservers++
		}
	}
	for _, f := range files {
		out.Files++
		for _, c := range f.Chunks {
			out.Chunks++
			fc := &chunkpb.FsckChunk{Path: f.Path, Handle: c.Handle, Version: c.Version}
			corrupt := false
			for id, rep := range t.replicas[c.Handle] {
				if !t.aliveLocked(t.servers[id], now) {
					continue
				}
				switch {
				case rep.version == c.Version:
					fc.Replicas = append(fc.Replicas, id)
				case rep.version < c.Version:
					fc.Stale = append(fc.Stale, id)
				default:
					corrupt = true
				}
			}
			slices.Sort(fc.Replicas)
			slices.Sort(fc.Stale)
			n := len(fc.Replicas)
			switch {
			case corrupt:
				fc.Problem = ProblemCorrupt
				out.Corrupt++
			case n == 0:
				fc.Problem = ProblemMissing
				out.Missing++
			case n < v.m.cfg.Replication:
				fc.Problem = ProblemUnderReplicated
				out.UnderReplicated++
			case n > v.m.cfg.Replication:
				fc.Problem = ProblemOverReplicated
				out.OverReplicated++
			default:
				continue
			}
			if len(out.Problems) < maxFsckProblems {
				out.Problems = append(out.Problems, fc)
			}
		}
	}
	return out, nil
}

// walkFiles returns every file at or under path, depth first in name order.
func walkFiles(st *meta.State, path string) ([]meta.Entry, error) {
	e, err := st.Stat(path)
	if err != nil {
		return nil, err
	}
	if !e.Dir {
		return []meta.Entry{e}, nil
	}
	var out []meta.Entry
	stack := []string{path}
	for len(stack) > 0 {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		es, err := st.List(dir)
		if err != nil {
			return nil, err
		}
		for i := len(es) - 1; i >= 0; i-- {
			if es[i].Dir {
				stack = append(stack, es[i].Path)
			}
		}
		for _, x := range es {
			if !x.Dir {
				out = append(out, x)
			}
		}
	}
	return out, nil
}

// trimmableLocked picks the replicas of an over-replicated chunk h to
// delete, keeping chunk.replication of cur (the current replicas, fewest
// chunks first, so the fullest chunkservers give theirs up). Nothing is
// trimmed while a lease may order writes to the chunk (a live lease of
// this term, or the grace period in which a predecessor's unreported lease
// may live) or while a grant or copy holds the chunk.
func (t *term) trimmableLocked(h uint64, cur []*server, now time.Time) []*server {
	if l := t.leases[h]; l != nil && now.Before(l.expires) {
		return nil
	}
	if !t.own[h] && now.Before(t.graceUntil) {
		return nil
	}
	if mu := t.handleMus[h]; mu != nil {
		if !mu.TryLock() {
			return nil
		}
		mu.Unlock()
	}
	return cur[t.m.cfg.Replication:]
}
