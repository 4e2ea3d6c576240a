package chunkmaster

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/rpcserver"
)

// Register adds the ChunkMaster service of m to g.
func Register(g *grpc.Server, m *Manager) {
	chunkpb.RegisterChunkMasterServer(g, &service{m: m})
}

// service implements chunkpb.ChunkMasterServer.
type service struct {
	chunkpb.UnimplementedChunkMasterServer
	m *Manager

	appendMu sync.Mutex // serializes guarded allocations (AllocateRequest.if_chunks): check, then add
}

// codeOf maps an error of the node or the state machine to a gRPC code.
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return rpcserver.Code(err)
}

// servingAfter returns resp only if the term t still serves once resp was
// made: an answer built from this term's memory (locations, leases, the
// namespace) is refused when the master's lease ended while it was being
// built, since a new primary may already have acted.
func servingAfter[T any](m *Manager, t *term, resp T, err error) (T, error) {
	if err != nil {
		return resp, err
	}
	if t.ctx.Err() != nil || !m.n.Serving() {
		var zero T
		return zero, m.notPrimary()
	}
	return resp, nil
}

// heartbeatWait is how long a heartbeat waits on a master that won the
// election but does not serve yet: a chunkserver re-attaches the moment
// the new primary serves.
const heartbeatWait = 2 * time.Second

// Heartbeat registers a chunkserver and records its report.
func (v *service) Heartbeat(ctx context.Context, r *chunkpb.HeartbeatRequest) (*chunkpb.HeartbeatResponse, error) {
	if r.Id == "" || r.Address == "" {
		return nil, status.Error(codes.InvalidArgument, "heartbeat without a chunkserver id or address")
	}
	if isReportOnly(ctx) {
		// A report to a member the chunkserver does not follow as primary.
		return &chunkpb.HeartbeatResponse{Master: v.m.n.ID(), NeedFull: v.m.record(r)}, nil
	}
	t, err := v.m.activeTerm(ctx, heartbeatWait)
	if err != nil {
		return nil, err
	}
	switch {
	case r.Token > int64(t.token):
		// This master is deposed and does not know it yet.
		return nil, status.Errorf(codes.PermissionDenied, "master %s (token %d) refuses chunkserver %s, which obeys the newer token %d: this master is no longer the primary",
			v.m.n.ID(), t.token, r.Id, r.Token)
	case r.Token < int64(t.token):
		// Not registered until it proves it obeys our token.
		return &chunkpb.HeartbeatResponse{Token: int64(t.token), Master: v.m.n.ID(), NeedFull: true}, nil
	}
	resp, err := t.heartbeat(r, v.m.n.State().AppliedIndex())
	if err == nil && resp.Registered {
		v.m.record(r) // kept for a later term of this member
	}
	return servingAfter(v.m, t, resp, err)
}

// entry is the file at path, read on the valid primary.
func (v *service) entry(path string) (meta.Entry, error) {
	var e meta.Entry
	err := v.m.n.Read(func(st *meta.State) error {
		var err error
		e, err = st.Stat(path)
		return err
	})
	if err != nil {
		return e, status.Error(codeOf(err), err.Error())
	}
	if e.Dir {
		return e, status.Errorf(codes.InvalidArgument, "%s is a directory; give a file", path)
	}
	return e, nil
}

// AllocateChunk appends a chunk to a file and grants its first lease.
func (v *service) AllocateChunk(ctx context.Context, r *chunkpb.AllocateRequest) (*chunkpb.ChunkLease, error) {
	t, err := v.m.activeTerm(ctx, 0)
	if err != nil {
		return nil, err
	}
	if r.IfChunks > 0 {
		// Record append: many appenders find the last chunk full at once;
		// only the first adds the next one.
		v.appendMu.Lock()
		defer v.appendMu.Unlock()
		_, retry := v.m.n.State().Replay(meta.Op{Type: meta.OpAddChunk, Path: r.Path, Session: r.Session, ClientID: r.ClientId, Seq: r.Seq})
		if !retry || r.ClientId == "" {
			e, err := v.entry(r.Path)
			if err != nil {
				return nil, err
			}
			if uint64(len(e.Chunks)) != r.IfChunks-1 {
				return nil, status.Errorf(codes.FailedPrecondition, "allocate chunk %d of %s: the file has %d chunks now; append to its last one",
					r.IfChunks, r.Path, len(e.Chunks))
			}
		}
	}
	resp, err := t.allocate(ctx, r.Path, r.Session, r.ClientId, r.Seq)
	return servingAfter(v.m, t, resp, err)
}

// GetLease returns the chunk's lease, granting one when none may live.
func (v *service) GetLease(ctx context.Context, r *chunkpb.LeaseRequest) (*chunkpb.ChunkLease, error) {
	t, err := v.m.activeTerm(ctx, 0)
	if err != nil {
		return nil, err
	}
	e, err := v.entry(r.Path)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(e.Chunks, func(c meta.Chunk) bool { return c.Handle == r.Handle })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "%s has no chunk %d", r.Path, r.Handle)
	}
	mu := t.handleMu(r.Handle)
	mu.Lock()
	defer mu.Unlock()
	// Re-read: a lease grant that held the mutex may have bumped the version.
	if e, err = v.entry(r.Path); err != nil {
		return nil, err
	}
	i = slices.IndexFunc(e.Chunks, func(c meta.Chunk) bool { return c.Handle == r.Handle })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "%s has no chunk %d", r.Path, r.Handle)
	}
	resp, err := t.lease(ctx, r.Path, r.Handle, e.Chunks[i].Version)
	return servingAfter(v.m, t, resp, err)
}

// Locate lists a file's chunks with their current replicas.
func (v *service) Locate(ctx context.Context, r *chunkpb.LocateRequest) (*chunkpb.LocateResponse, error) {
	t, err := v.m.activeTerm(ctx, 0)
	if err != nil {
		return v.locateShadow(ctx, r, err)
	}
	e, err := v.entry(r.Path)
	if err != nil {
		return nil, err
	}
	out := &chunkpb.LocateResponse{Path: e.Path, Size: e.Size, ChunkSize: v.m.cfg.ChunkSize}
	out, err = t.locate(e, out)
	return servingAfter(v.m, t, out, err)
}

// locate fills out with e's chunks and their current replicas.
func (t *term) locate(e meta.Entry, out *chunkpb.LocateResponse) (*chunkpb.LocateResponse, error) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range e.Chunks {
		lc := &chunkpb.LocatedChunk{Handle: c.Handle, Version: c.Version}
		for _, s := range t.currentLocked(c.Handle, c.Version, now) {
			lc.Replicas = append(lc.Replicas, &chunkpb.Replica{Id: s.id, Address: s.addr})
		}
		rand.Shuffle(len(lc.Replicas), func(i, j int) { lc.Replicas[i], lc.Replicas[j] = lc.Replicas[j], lc.Replicas[i] })
		if len(lc.Replicas) == 0 && now.Sub(t.start) < t.m.cfg.DeadAfter+time.Second {
			return nil, status.Errorf(codes.Unavailable, "chunk %d of %s: no chunkserver has reported version %d yet (this primary started %v ago); retry",
				c.Handle, e.Path, c.Version, now.Sub(t.start).Round(time.Millisecond))
		}
		out.Chunks = append(out.Chunks, lc)
	}
	return out, nil
}

// SetFileSize records a file's size once its data is written.
func (v *service) SetFileSize(ctx context.Context, r *chunkpb.SetFileSizeRequest) (*chunkpb.SetFileSizeResponse, error) {
	op := meta.OpSetSize
	if r.Grow {
		op = meta.OpGrowSize
	}
	res, err := v.m.n.Propose(ctx, meta.Op{Type: op, Path: r.Path, Size: r.Size, Session: r.Session, ClientID: r.ClientId, Seq: r.Seq})
	if err := proposeErr(res, err); err != nil {
		return nil, err
	}
	return &chunkpb.SetFileSizeResponse{}, nil
}

// ListChunkservers lists the chunkservers registered with this primary.
func (v *service) ListChunkservers(ctx context.Context, _ *chunkpb.ListChunkserversRequest) (_ *chunkpb.ListChunkserversResponse, err error) {
	t, err := v.m.activeTerm(ctx, 0)
	if err != nil {
		return nil, err
	}
	snap := t.snapshot()
	out := &chunkpb.ListChunkserversResponse{Primary: v.m.n.ID(), Token: int64(snap.Token)}
	defer func() { out, err = servingAfter(v.m, t, out, err) }()
	for _, c := range snap.Chunkservers {
		out.Chunkservers = append(out.Chunkservers, &chunkpb.ChunkserverStatus{Id: c.ID, Address: c.Address, Token: int64(c.Token),
			LastHeartbeatMs: cluster.Ms(c.LastHeartbeat), Chunks: int64(c.Chunks),
			AttachedAfterServingMs: cluster.Ms(c.Registered.Sub(snap.ServingAt)), FreeBytes: c.FreeBytes})
	}
	return out, nil
}
