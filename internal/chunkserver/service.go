package chunkserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/fencing"
)

// service implements chunkpb.ChunkserverServer.
type service struct {
	chunkpb.UnimplementedChunkserverServer
	s *Server
}

func (v *service) done() *chunkpb.CommandResponse {
	return &chunkpb.CommandResponse{Token: int64(v.s.highest.Current())}
}

// CreateChunk makes an empty replica.
func (v *service) CreateChunk(ctx context.Context, r *chunkpb.CreateChunkRequest) (*chunkpb.CommandResponse, error) {
	what := fmt.Sprintf("create chunk %d", r.Handle)
	if err := v.s.admitInTime(ctx, r.Token, what); err != nil {
		return nil, err
	}
	if err := v.s.store.Create(r.Handle, r.Version, r.MaxSize); err != nil {
		return nil, statusOf(fmt.Errorf("chunkserver %s: %w", v.s.cfg.ID, err))
	}
	v.s.kickHeartbeat()
	return v.done(), nil
}

// DeleteChunks removes replicas (garbage collection, stale replicas).
func (v *service) DeleteChunks(ctx context.Context, r *chunkpb.DeleteChunksRequest) (*chunkpb.CommandResponse, error) {
	if err := v.s.admitInTime(ctx, r.Token, fmt.Sprintf("delete %d chunks", len(r.Handles))); err != nil {
		return nil, err
	}
	for i, h := range r.Handles {
		// Each delete is a durable step of its own: once a newer primary
		// is seen, or the sender's lease may have ended, an older one's
		// command stops here.
		if i > 0 {
			if err := v.s.admitInTime(ctx, r.Token, fmt.Sprintf("delete chunk %d (%d of %d)", h, i+1, len(r.Handles))); err != nil {
				return nil, err
			}
		}
		v.s.mu.Lock()
		delete(v.s.leases, h)
		v.s.mu.Unlock()
		if err := v.s.store.Delete(h); err != nil {
			return nil, statusOf(fmt.Errorf("chunkserver %s: %w", v.s.cfg.ID, err))
		}
	}
	if len(r.Handles) > 0 {
		v.s.log.Info("deleted replicas", "handles", r.Handles, "token", r.Token)
		v.s.kickHeartbeat()
	}
	return v.done(), nil
}

// SetVersion raises a replica's version (before a new lease).
func (v *service) SetVersion(ctx context.Context, r *chunkpb.SetVersionRequest) (*chunkpb.CommandResponse, error) {
	if err := v.s.admitInTime(ctx, r.Token, fmt.Sprintf("set version of chunk %d to %d", r.Handle, r.To)); err != nil {
		return nil, err
	}
	if err := v.s.store.SetVersion(r.Handle, r.From, r.To); err != nil {
		return nil, statusOf(fmt.Errorf("chunkserver %s: %w", v.s.cfg.ID, err))
	}
	v.s.mu.Lock()
	if l := v.s.leases[r.Handle]; l != nil && l.version != r.To {
		delete(v.s.leases, r.Handle)
	}
	v.s.mu.Unlock()
	v.s.kickHeartbeat()
	return v.done(), nil
}

// GrantLease makes this chunkserver the primary replica of a chunk until
// the lease expires. The replica must be at the lease's version. The lease
// runs from the grant's receipt for its duration, and never past the
// command's deadline, which the master sets to the end of its own lease (a
// grant whose deadline passed before it took effect is refused).
func (v *service) GrantLease(ctx context.Context, r *chunkpb.GrantLeaseRequest) (*chunkpb.CommandResponse, error) {
	received := time.Now()
	what := fmt.Sprintf("lease on chunk %d", r.Handle)
	if err := v.s.admitInTime(ctx, r.Token, what); err != nil {
		return nil, err
	}
	info, ok := v.s.store.Get(r.Handle)
	switch {
	case !ok:
		return nil, status.Errorf(codes.NotFound, "chunkserver %s: lease on chunk %d: no replica here", v.s.cfg.ID, r.Handle)
	case info.Version != r.Version:
		return nil, status.Errorf(codes.FailedPrecondition, "chunkserver %s: lease on chunk %d version %d: the replica has version %d",
			v.s.cfg.ID, r.Handle, r.Version, info.Version)
	case r.DurationMs <= 0:
		return nil, status.Errorf(codes.InvalidArgument, "chunkserver %s: lease on chunk %d: duration %d ms", v.s.cfg.ID, r.Handle, r.DurationMs)
	}
	// The lease runs from its receipt: the master counts it from after this
	// answer arrives, so the master's bound is never the shorter one.
	expires := received.Add(time.Duration(r.DurationMs) * time.Millisecond)
	if dl, ok := ctx.Deadline(); ok && dl.Before(expires) {
		expires = dl
	}
	l := &lease{version: r.Version, token: fencing.Token(r.Token), expires: expires,
		secondaries: append([]string(nil), r.Secondaries...)}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	if err := ctx.Err(); err != nil { // the deadline passed while it was checked
		return nil, v.s.late(what, err)
	}
	v.s.leases[r.Handle] = l
	return v.done(), nil
}

// RevokeLease drops a lease and waits for a write in progress under it.
func (v *service) RevokeLease(_ context.Context, r *chunkpb.RevokeLeaseRequest) (*chunkpb.CommandResponse, error) {
	// A revoke only ever shortens a lease: it is obeyed even late.
	if err := v.s.admit(r.Token, fmt.Sprintf("revoke lease on chunk %d", r.Handle)); err != nil {
		return nil, err
	}
	v.s.mu.Lock()
	delete(v.s.leases, r.Handle)
	v.s.mu.Unlock()
	m := v.s.chunkMutex(r.Handle)
	m.Lock()
	m.Unlock() //nolint:staticcheck // waits for the write in progress
	return v.done(), nil
}

// CopyChunk pulls a whole replica from another chunkserver.
func (v *service) CopyChunk(ctx context.Context, r *chunkpb.CopyChunkRequest) (*chunkpb.CommandResponse, error) {
	if err := v.s.admit(r.Token, fmt.Sprintf("copy chunk %d", r.Handle)); err != nil {
		return nil, err
	}
	cc, err := v.s.conn(r.Source)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "chunkserver %s: copy chunk %d from %s: %v", v.s.cfg.ID, r.Handle, r.Source, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := chunkpb.NewChunkserverClient(cc).Read(rctx, &chunkpb.ReadRequest{Handle: r.Handle, Version: r.Version, Length: r.MaxSize})
	if err != nil {
		return nil, status.Errorf(status.Code(err), "chunkserver %s: copy chunk %d from %s: %v", v.s.cfg.ID, r.Handle, r.Source, status.Convert(err).Message())
	}
	info, err := v.s.store.Install(r.Handle, r.Version, r.MaxSize, &streamReader{recv: stream.Recv})
	if err != nil {
		if st, ok := status.FromError(errors.Unwrap(err)); ok {
			return nil, status.Errorf(st.Code(), "chunkserver %s: copy chunk %d from %s: %v", v.s.cfg.ID, r.Handle, r.Source, st.Message())
		}
		return nil, statusOf(fmt.Errorf("chunkserver %s: copy from %s: %w", v.s.cfg.ID, r.Source, err))
	}
	v.s.log.Info("copied replica", "handle", r.Handle, "version", info.Version, "bytes", info.Size, "from", r.Source)
	v.s.kickHeartbeat()
	return v.done(), nil
}

// streamReader reads a Read stream as an io.Reader.
type streamReader struct {
	recv func() (*chunkpb.ReadResponse, error)
	buf  []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		m, err := r.recv()
		if err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, fmt.Errorf("read stream: %w", err)
		}
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Info describes this chunkserver.
func (v *service) Info(context.Context, *chunkpb.InfoRequest) (*chunkpb.InfoResponse, error) {
	out := &chunkpb.InfoResponse{Id: v.s.cfg.ID, Address: v.s.addr, Token: int64(v.s.highest.Current()),
		Leases: v.s.liveLeases(), Master: v.s.Master()}
	for _, c := range v.s.store.List() {
		out.Chunks = append(out.Chunks, &chunkpb.ChunkInfo{Handle: c.Handle, Version: c.Version, Size: c.Size})
	}
	return out, nil
}

// Read streams a range of a replica, verifying checksums. A replica that
// fails them is quarantined (not served again, reported to the master at
// once so it is re-replicated from a good copy) and the read fails with
// DATA_LOSS; a replica at another version fails with FAILED_PRECONDITION.
func (v *service) Read(r *chunkpb.ReadRequest, stream chunkpb.Chunkserver_ReadServer) error {
	err := v.s.store.Read(r.Handle, r.Version, r.Offset, r.Length, func(b []byte) error {
		return stream.Send(&chunkpb.ReadResponse{Data: b})
	})
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrCorrupt) {
		v.s.log.Error("corrupt replica quarantined; the master will re-replicate it", "handle", r.Handle, "err", err)
		v.s.store.Quarantine(r.Handle, err.Error())
		v.s.kickHeartbeat()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return statusOf(fmt.Errorf("chunkserver %s: %w", v.s.cfg.ID, err))
}
