package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

// Server implements masterpb.MasterServer.
type Server struct {
	masterpb.UnimplementedMasterServer
	n *node.Node
	p proposer
	// slots holds one token per mutation being proposed, across all calls:
	// the bound on the goroutines and queued work that mutations cost.
	slots    chan struct{}
	slotWait time.Duration
}

// proposer is what mutations need of the node.
type proposer interface {
	Propose(ctx context.Context, op meta.Op) (meta.Result, error)
	AppliedIndex() uint64
}

type nodeProposer struct{ *node.Node }

func (n nodeProposer) AppliedIndex() uint64 { return n.State().AppliedIndex() }

// MaxInflight bounds the mutations one server proposes at once; a mutation
// that finds them all taken waits up to SlotWait for one, then fails with
// RESOURCE_EXHAUSTED (not applied; the client retries with backoff).
const (
	MaxInflight = 4096
	SlotWait    = 100 * time.Millisecond
)

// Register adds the master service for n to g.
func Register(g *grpc.Server, n *node.Node) {
	masterpb.RegisterMasterServer(g, newServer(n, nodeProposer{n}, MaxInflight, SlotWait))
}

func newServer(n *node.Node, p proposer, inflight int, wait time.Duration) *Server {
	return &Server{n: n, p: p, slots: make(chan struct{}, inflight), slotWait: wait}
}

// acquire takes a proposal slot, waiting up to slotWait (or ctx).
func (s *Server) acquire(ctx context.Context, timer *time.Timer) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-timer.C:
		return status.Errorf(codes.ResourceExhausted, "master busy: %d mutations in flight for %v; retry with backoff", cap(s.slots), s.slotWait)
	}
}

func (s *Server) release() { <-s.slots }

// Code maps an error from node or meta to its gRPC code.
func Code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, node.ErrNotPrimary):
		return codes.Unavailable
	case errors.Is(err, node.ErrUnknownOutcome):
		return codes.Aborted
	case errors.Is(err, node.ErrOverloaded):
		return codes.ResourceExhausted
	case errors.Is(err, meta.ErrSessionExpired):
		return codes.Unknown
	case errors.Is(err, meta.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, meta.ErrExists):
		return codes.AlreadyExists
	case errors.Is(err, meta.ErrInvalidPath), errors.Is(err, meta.ErrInvalidMove), errors.Is(err, meta.ErrBadOp):
		return codes.InvalidArgument
	case errors.Is(err, meta.ErrNotEmpty), errors.Is(err, meta.ErrNotDir), errors.Is(err, meta.ErrIsDir),
		errors.Is(err, meta.ErrStale), errors.Is(err, meta.ErrBadChunk):
		return codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Internal
}

func toStatus(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(Code(err), err.Error())
}

func (s *Server) mutate(ctx context.Context, op meta.Op) (*masterpb.MutateResponse, error) {
	timer := time.NewTimer(s.slotWait)
	defer timer.Stop()
	if err := s.acquire(ctx, timer); err != nil {
		return nil, err
	}
	defer s.release()
	r, err := s.p.Propose(ctx, op)
	if err != nil {
		return nil, toStatus(err)
	}
	if r.Err != nil {
		return nil, toStatus(r.Err)
	}
	return &masterpb.MutateResponse{Index: s.p.AppliedIndex()}, nil
}

// RegisterSession registers a client session in the log.
func (s *Server) RegisterSession(ctx context.Context, _ *masterpb.RegisterSessionRequest) (*masterpb.RegisterSessionResponse, error) {
	id, err := s.n.RegisterSession(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &masterpb.RegisterSessionResponse{Session: id, TimeoutMs: meta.SessionTimeout.Milliseconds()}, nil
}

// Mkdir creates a directory.
func (s *Server) Mkdir(ctx context.Context, r *masterpb.PathRequest) (*masterpb.MutateResponse, error) {
	return s.mutate(ctx, meta.Op{Type: meta.OpMkdir, Path: r.Path, Session: r.Session, ClientID: r.ClientId, Seq: r.Seq})
}

// Create creates an empty file.
func (s *Server) Create(ctx context.Context, r *masterpb.PathRequest) (*masterpb.MutateResponse, error) {
	return s.mutate(ctx, meta.Op{Type: meta.OpCreate, Path: r.Path, Session: r.Session, ClientID: r.ClientId, Seq: r.Seq})
}

// Delete removes a file or an empty directory.
func (s *Server) Delete(ctx context.Context, r *masterpb.PathRequest) (*masterpb.MutateResponse, error) {
	return s.mutate(ctx, meta.Op{Type: meta.OpDelete, Path: r.Path, Session: r.Session, ClientID: r.ClientId, Seq: r.Seq})
}

// Rename moves src to dst.
func (s *Server) Rename(ctx context.Context, r *masterpb.RenameRequest) (*masterpb.MutateResponse, error) {
	return s.mutate(ctx, meta.Op{Type: meta.OpRename, Path: r.Src, Path2: r.Dst, Session: r.Session, ClientID: r.ClientId, Seq: r.Seq})
}

// Stat describes one path.
func (s *Server) Stat(ctx context.Context, r *masterpb.StatRequest) (*masterpb.Entry, error) {
	var e meta.Entry
	err := Read(ctx, s.n, func(st *meta.State) error {
		var err error
		e, err = st.Stat(r.Path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return entryPB(e), nil
}

// List lists a directory.
func (s *Server) List(ctx context.Context, r *masterpb.StatRequest) (*masterpb.ListResponse, error) {
	var es []meta.Entry
	err := Read(ctx, s.n, func(st *meta.State) error {
		var err error
		es, err = st.List(r.Path)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &masterpb.ListResponse{Path: r.Path, Entries: make([]*masterpb.Entry, len(es))}
	for i, e := range es {
		out.Entries[i] = entryPB(e)
	}
	return out, nil
}

// Status reports this member.
func (s *Server) Status(_ context.Context, r *masterpb.StatusRequest) (*masterpb.MemberStatus, error) {
	st := s.n.Status()
	out := &masterpb.MemberStatus{
		NodeId: st.NodeID, Role: st.Role, Address: st.Address, HttpAddress: st.HTTPAddress,
		LeaseId: st.LeaseID, AppliedIndex: st.AppliedIndex, LagEntries: st.LagEntries, LagMs: st.LagMs,
		CheckpointIndex: st.CheckpointIndex, Token: st.Token,
	}
	if r.Digest {
		out.Digest = s.n.State().Digest()
	}
	return out, nil
}

func entryPB(e meta.Entry) *masterpb.Entry {
	out := &masterpb.Entry{Path: e.Path, Name: e.Name, Dir: e.Dir, Size: e.Size, MtimeNs: e.Mtime}
	for _, c := range e.Chunks {
		out.Chunks = append(out.Chunks, &masterpb.Chunk{Handle: c.Handle, Version: c.Version})
	}
	return out
}

// maxBatch bounds one Batch call.
const maxBatch = 10000

// Batch proposes the mutations concurrently (so that they share the
// appender's group commit) and answers each one. Each proposal holds one of
// the server's slots; those that find none within SlotWait are answered
// RESOURCE_EXHAUSTED without being proposed.
func (s *Server) Batch(ctx context.Context, r *masterpb.BatchRequest) (*masterpb.BatchResponse, error) {
	if len(r.Mutations) > maxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d mutations exceeds %d; split it", len(r.Mutations), maxBatch)
	}
	out := &masterpb.BatchResponse{Results: make([]*masterpb.MutationResult, len(r.Mutations))}
	timer := time.NewTimer(s.slotWait)
	defer timer.Stop()
	var busy error
	var wg sync.WaitGroup
	for i, m := range r.Mutations {
		op, err := opOf(m)
		if err != nil {
			out.Results[i] = &masterpb.MutationResult{Code: uint32(codes.InvalidArgument), Message: err.Error()}
			continue
		}
		if busy == nil {
			busy = s.acquire(ctx, timer)
		}
		if busy != nil {
			st := status.Convert(busy)
			out.Results[i] = &masterpb.MutationResult{Code: uint32(st.Code()), Message: st.Message()}
			continue
		}
		wg.Add(1)
		run := func() {
			defer wg.Done()
			defer s.release()
			res := &masterpb.MutationResult{}
			r, err := s.p.Propose(ctx, op)
			if err == nil {
				err = r.Err
			}
			if err != nil {
				res.Code, res.Message = uint32(Code(err)), err.Error()
			} else {
				res.Index = s.p.AppliedIndex()
			}
			out.Results[i] = res
		}
		if i == len(r.Mutations)-1 {
			// The last (at one client, often the only) one runs on the
			// handler's goroutine: the others are already proposed, so it
			// delays none of them, and it spares a goroutine per call.
			run()
			continue
		}
		go run()
	}
	wg.Wait()
	return out, nil
}

func opOf(m *masterpb.Mutation) (meta.Op, error) {
	op := meta.Op{Path: m.Path, Path2: m.Path2, Session: m.Session, ClientID: m.ClientId, Seq: m.Seq}
	switch m.Type {
	case masterpb.Mutation_MKDIR:
		op.Type = meta.OpMkdir
	case masterpb.Mutation_CREATE:
		op.Type = meta.OpCreate
	case masterpb.Mutation_DELETE:
		op.Type = meta.OpDelete
	case masterpb.Mutation_RENAME:
		op.Type = meta.OpRename
	default:
		return op, fmt.Errorf("mutation type %v: use MKDIR, CREATE, DELETE or RENAME", m.Type)
	}
	return op, nil
}

// Checkpoint writes a checkpoint on this member now.
func (s *Server) Checkpoint(context.Context, *masterpb.CheckpointRequest) (*masterpb.CheckpointResponse, error) {
	idx, err := s.n.Checkpoint()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &masterpb.CheckpointResponse{Index: idx}, nil
}

// Trim trims the log now (primary only).
func (s *Server) Trim(ctx context.Context, _ *masterpb.TrimRequest) (*masterpb.TrimResponse, error) {
	first, err := s.n.Trim(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &masterpb.TrimResponse{FirstIndex: first}, nil
}

// FetchCheckpoint streams this member's newest checkpoint file.
func (s *Server) FetchCheckpoint(r *masterpb.FetchCheckpointRequest, stream grpc.ServerStreamingServer[masterpb.CheckpointChunk]) error {
	f, info, err := s.n.OpenCheckpoint(r.MinIndex)
	if err != nil {
		return status.Error(codes.NotFound, err.Error())
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	first := true
	for {
		n, err := f.Read(buf)
		if n > 0 {
			c := &masterpb.CheckpointChunk{Data: buf[:n]}
			if first {
				c.Index, first = info.Index, false
			}
			if serr := stream.Send(c); serr != nil {
				return serr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
	}
}

// FetchFrom returns a node.FetchFunc that dials peers with opts.
func FetchFrom(opts ...grpc.DialOption) func(ctx context.Context, addr string, minIndex uint64, w io.Writer) error {
	return func(ctx context.Context, addr string, minIndex uint64, w io.Writer) error {
		cc, err := grpc.NewClient(addr, opts...)
		if err != nil {
			return fmt.Errorf("fetch checkpoint from %s: %w", addr, err)
		}
		defer cc.Close()
		st, err := masterpb.NewMasterClient(cc).FetchCheckpoint(ctx, &masterpb.FetchCheckpointRequest{MinIndex: minIndex})
		if err != nil {
			return err
		}
		for {
			c, err := st.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("fetch checkpoint from %s: %w", addr, err)
			}
			if _, err := w.Write(c.Data); err != nil {
				return err
			}
		}
	}
}

// Switchover hands leadership to r.To.
func (s *Server) Switchover(ctx context.Context, r *masterpb.SwitchoverRequest) (*masterpb.SwitchoverResponse, error) {
	if err := s.n.Switchover(ctx, r.To); err != nil {
		if errors.Is(err, node.ErrTargetNotReady) || errors.Is(err, node.ErrPaused) {
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		return nil, toStatus(err)
	}
	return &masterpb.SwitchoverResponse{AppliedIndex: s.n.State().AppliedIndex()}, nil
}
