package chunkserver

import (
	"context"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
)

// Record append (GFS §3.3). The lease holder, not the client, chooses the
// offset: the end of its replica. Under the chunk's write order it applies
// the record there and forwards it to every secondary at that same offset,
// exactly as a write. A record that does not fit in the rest of the chunk
// is not written: the chunk is padded with zeros to its full size on every
// replica instead, and the client appends to a new chunk. A record is at
// most a quarter of the chunk, so padding wastes at most that.
//
// A failure on any replica fails the append; the client retries it, maybe
// at another offset, so a record is written at least once and may appear
// more than once (readers drop duplicates by record id, see
// client.ScanRecords). A failed attempt may also leave bytes on some
// replicas only; readers skip such regions by the records' checksums.

// appendRecord applies a record append as the lease holder.
func (v *service) appendRecord(stream chunkpb.Chunkserver_WriteServer, first *chunkpb.WriteRequest) error {
	s := v.s
	h := first.Handle
	maxSize, ok := s.store.maxSize(h)
	if !ok {
		return status.Errorf(codes.NotFound, "chunkserver %s holds no replica of chunk %d", s.cfg.ID, h)
	}
	if first.Length <= 0 || first.Length > maxSize/4 {
		return status.Errorf(codes.InvalidArgument, "record append to chunk %d: a record of %d bytes; give 1 to %d bytes (a quarter of the chunk size)",
			h, first.Length, maxSize/4)
	}
	data := make([]byte, 0, first.Length)
	for msg := first; ; {
		if int64(len(data)+len(msg.Data)) > first.Length {
			return status.Errorf(codes.InvalidArgument, "record append to chunk %d: more than the %d bytes announced", h, first.Length)
		}
		data = append(data, msg.Data...)
		var err error
		msg, err = stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if int64(len(data)) != first.Length {
		return status.Errorf(codes.InvalidArgument, "record append to chunk %d: %d of the %d bytes announced", h, len(data), first.Length)
	}

	m := s.chunkMutex(h)
	m.Lock()
	defer m.Unlock()
	l, err := s.leaseFor(h, first.Version)
	if err != nil {
		return statusOf(err)
	}
	info, _ := s.store.Get(h)
	off := info.Size
	full := off+first.Length > maxSize
	if full {
		data = make([]byte, maxSize-off) // the padding
	}
	if len(data) > 0 {
		if err := s.applyEverywhere(stream.Context(), h, first.Version, l, off, data); err != nil {
			return err
		}
	}
	if _, err := s.leaseFor(h, first.Version); err != nil {
		return statusOf(err)
	}
	info, _ = s.store.Get(h)
	return stream.SendAndClose(&chunkpb.WriteResponse{Size: info.Size, Offset: off, ChunkFull: full})
}

// applyEverywhere writes data at off of chunk h here and on every
// secondary of lease l, committing here only once every secondary has.
// The caller holds the chunk's write order.
func (s *Server) applyEverywhere(ctx context.Context, h, version uint64, l lease, off int64, data []byte) error {
	w, err := s.store.BeginWrite(h, version, off, int64(len(data)))
	if err != nil {
		return statusOf(fmt.Errorf("chunkserver %s: %w", s.cfg.ID, err))
	}
	committed := false
	defer func() {
		if !committed {
			w.Abort()
		}
	}()
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fwds := make([]*forward, len(l.secondaries))
	for i, addr := range l.secondaries {
		fwds[i] = s.startForward(fctx, addr, &chunkpb.WriteRequest{Handle: h, Version: version, Offset: off,
			Length: int64(len(data)), Token: int64(l.token)})
	}
	for i := 0; i < len(data); i += 1 << 20 {
		frame := data[i:min(i+1<<20, len(data))]
		for _, f := range fwds {
			f.send(frame)
		}
	}
	for _, f := range fwds {
		f.close()
	}
	if _, err := w.Write(data); err != nil {
		cancel()
		for _, f := range fwds {
			f.wait()
		}
		return statusOf(fmt.Errorf("chunkserver %s (primary): %w", s.cfg.ID, err))
	}
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
		return status.Errorf(code, "chunkserver %s (primary of chunk %d): record append at %d not applied on every replica: %s",
			s.cfg.ID, h, off, strings.Join(errs, "; "))
	}
	if err := w.Commit(); err != nil {
		return statusOf(fmt.Errorf("chunkserver %s (primary): %w", s.cfg.ID, err))
	}
	committed = true
	return nil
}

// maxSize is the largest size of the replica of chunk h.
func (s *Store) maxSize(h uint64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.chunks[h]
	if r == nil {
		return 0, false
	}
	return r.maxSize, true
}
