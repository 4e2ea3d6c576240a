package chunkserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/fencing"
)

// The write protocol. The client streams a write (header, then data) to the
// lease holder. The lease holder takes the chunk's write order (one write
// at a time per chunk), checks its lease, applies the data locally and, as
// each frame arrives, forwards it to every secondary named in the lease
// (Forward, carrying the lease's token and version). The secondaries apply
// the same bytes at the same offset and fsync; the lease holder answers the
// client only when every replica has, and only if its lease still holds.
// A failure anywhere fails the write: the client asks the master for the
// lease again and retries the same bytes at the same offset.

// Write applies a client's write as the lease holder.
func (v *service) Write(stream chunkpb.Chunkserver_WriteServer) error {
	s := v.s
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.Append {
		return v.appendRecord(stream, first)
	}
	h := first.Handle
	m := s.chunkMutex(h)
	m.Lock()
	defer m.Unlock()
	l, err := s.leaseFor(h, first.Version)
	if err != nil {
		return statusOf(err)
	}
	w, err := s.store.BeginWrite(h, first.Version, first.Offset, first.Length)
	if err != nil {
		return statusOf(fmt.Errorf("chunkserver %s: %w", s.cfg.ID, err))
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()

	fctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	fwds := make([]*forward, len(l.secondaries))
	for i, addr := range l.secondaries {
		fwds[i] = s.startForward(fctx, addr, &chunkpb.WriteRequest{Handle: h, Version: first.Version, Offset: first.Offset,
			Length: first.Length, Token: int64(l.token)})
	}
	closeAll := func() {
		for _, f := range fwds {
			f.close()
		}
	}
	msg := first
	for {
		if len(msg.Data) > 0 {
			for _, f := range fwds {
				f.send(msg.Data)
			}
			if _, err := w.Write(msg.Data); err != nil {
				cancel()
				closeAll()
				return statusOf(fmt.Errorf("chunkserver %s (primary): %w", s.cfg.ID, err))
			}
		}
		msg, err = stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			cancel()
			closeAll()
			return err
		}
	}
	closeAll()
	var errs []string
	code := codes.OK
	for i, f := range fwds {
		if err := f.wait(); err != nil {
			errs = append(errs, fmt.Sprintf("secondary %s: %s", l.secondaries[i], status.Convert(err).Message()))
			if code == codes.OK {
				code = status.Code(err)
			}
		}
	}
	if len(errs) > 0 {
		if code == codes.Canceled || code == codes.Unknown {
			code = codes.Unavailable
		}
		return status.Errorf(code, "chunkserver %s (primary of chunk %d): write at %d not applied on every replica: %s",
			s.cfg.ID, h, first.Offset, strings.Join(errs, "; "))
	}
	if err := w.Commit(); err != nil {
		return statusOf(fmt.Errorf("chunkserver %s (primary): %w", s.cfg.ID, err))
	}
	committed = true
	// Answer only under a lease that still holds: a lease revoked or expired
	// meanwhile may already have a successor.
	if _, err := s.leaseFor(h, first.Version); err != nil {
		return statusOf(err)
	}
	info, _ := s.store.Get(h)
	return stream.SendAndClose(&chunkpb.WriteResponse{Size: info.Size})
}

// forward streams one write to one secondary, from its own goroutine, so
// that a slow secondary does not hold up the others.
type forward struct {
	ch   chan []byte
	done chan struct{}
	err  error // set before done is closed
	once sync.Once
}

func (s *Server) startForward(ctx context.Context, addr string, head *chunkpb.WriteRequest) *forward {
	f := &forward{ch: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		f.err = s.runForward(ctx, addr, head, f.ch)
		if f.err != nil {
			for range f.ch { // drain, so that send never blocks
			}
		}
	}()
	return f
}

func (s *Server) runForward(ctx context.Context, addr string, head *chunkpb.WriteRequest, ch <-chan []byte) error {
	cc, err := s.conn(addr)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	stream, err := chunkpb.NewChunkserverClient(cc).Forward(ctx)
	if err != nil {
		return err
	}
	sent := false
	for data := range ch {
		m := &chunkpb.WriteRequest{Data: data}
		if !sent {
			head.Data = data
			m, sent = head, true
		}
		if err := stream.Send(m); err != nil {
			_, err = stream.CloseAndRecv() // the real error
			return err
		}
	}
	if !sent {
		if err := stream.Send(head); err != nil {
			_, err = stream.CloseAndRecv()
			return err
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

func (f *forward) send(b []byte) {
	select {
	case f.ch <- b:
	case <-f.done:
	}
}

func (f *forward) close() { f.once.Do(func() { close(f.ch) }) }

func (f *forward) wait() error {
	<-f.done
	return f.err
}

// Forward applies a write as a secondary, for the lease holder.
func (v *service) Forward(stream chunkpb.Chunkserver_ForwardServer) error {
	s := v.s
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.Handle
	// The lease's token stands for the master that granted it: a lease from
	// a master older than one this chunkserver has seen is refused.
	if err := s.highest.Observe(fencing.Token(first.Token)); err != nil {
		if errors.Is(err, fencing.ErrStaleToken) {
			return status.Errorf(codes.PermissionDenied, "chunkserver %s refuses a write to chunk %d under a lease from an older primary: %v", s.cfg.ID, h, err)
		}
		return status.Errorf(codes.InvalidArgument, "chunkserver %s: forwarded write to chunk %d: %v", s.cfg.ID, h, err)
	}
	m := s.chunkMutex(h)
	m.Lock()
	defer m.Unlock()
	w, err := s.store.BeginWrite(h, first.Version, first.Offset, first.Length)
	if err != nil {
		return statusOf(fmt.Errorf("chunkserver %s: %w", s.cfg.ID, err))
	}
	msg := first
	for {
		if len(msg.Data) > 0 {
			if _, err := w.Write(msg.Data); err != nil {
				w.Abort()
				return statusOf(fmt.Errorf("chunkserver %s: %w", s.cfg.ID, err))
			}
		}
		msg, err = stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			w.Abort()
			return err
		}
	}
	if err := w.Commit(); err != nil {
		return statusOf(fmt.Errorf("chunkserver %s: %w", s.cfg.ID, err))
	}
	info, _ := s.store.Get(h)
	return stream.SendAndClose(&chunkpb.WriteResponse{Size: info.Size})
}
