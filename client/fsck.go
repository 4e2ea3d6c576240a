package client

import (
	"context"

	"github.com/gfsha/master/api/chunkpb"
)

// FsckReport is `ctl fsck -o json`: every file's chunks under Path against
// the replication factor, as the primary sees the chunkservers' reports.
type FsckReport struct {
	Path            string        `json:"path"`
	Files           int64         `json:"files"`
	Chunks          int64         `json:"chunks"`
	UnderReplicated int64         `json:"under_replicated"`
	OverReplicated  int64         `json:"over_replicated"`
	Missing         int64         `json:"missing"`
	Corrupt         int64         `json:"corrupt"`
	Problems        []FsckProblem `json:"problems"`
	Replication     int32         `json:"replication"`
	Primary         string        `json:"primary"`
	Chunkservers    int64         `json:"chunkservers"`
}

// FsckProblem is one chunk that is not at the replication factor.
type FsckProblem struct {
	Path     string   `json:"path"`
	Handle   uint64   `json:"handle"`
	Version  uint64   `json:"version"`
	Problem  string   `json:"problem"` // missing, under-replicated, over-replicated or corrupt
	Replicas []string `json:"replicas"`
	Stale    []string `json:"stale,omitempty"`
}

// Healthy reports whether no data is missing or corrupt.
func (r FsckReport) Healthy() bool { return r.Missing == 0 && r.Corrupt == 0 }

// Fsck checks the chunks of every file at or under path on the primary.
func (c *Client) Fsck(ctx context.Context, path string) (FsckReport, error) {
	var r *chunkpb.FsckResponse
	err := c.callChunk(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient) error {
		var err error
		r, err = m.Fsck(ctx, &chunkpb.FsckRequest{Path: path})
		return err
	})
	if err != nil {
		return FsckReport{}, err
	}
	out := FsckReport{Path: r.Path, Files: r.Files, Chunks: r.Chunks, UnderReplicated: r.UnderReplicated,
		OverReplicated: r.OverReplicated, Missing: r.Missing, Corrupt: r.Corrupt, Problems: []FsckProblem{},
		Replication: r.Replication, Primary: r.Primary, Chunkservers: r.Chunkservers}
	for _, p := range r.Problems {
		reps := p.Replicas
		if reps == nil {
			reps = []string{}
		}
		out.Problems = append(out.Problems, FsckProblem{Path: p.Path, Handle: p.Handle, Version: p.Version,
			Problem: p.Problem, Replicas: reps, Stale: p.Stale})
	}
	return out, nil
}
