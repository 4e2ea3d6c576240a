package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
)

// The data path. The primary master hands out chunk handles, their replicas
// and their lease holder; the bytes flow between this client and the
// chunkservers only. A write goes to the lease holder, which applies it and
// forwards it to every secondary before it answers (see package
// chunkserver); a read goes to any replica at the chunk's current version.

// frameSize is the size of one data message on a chunkserver stream.
const frameSize = 1 << 20

// ChunkserverInfo is one chunkserver as the primary knows it (`ctl
// chunkservers`).
type ChunkserverInfo struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Token is the fencing token the chunkserver obeys now.
	Token           int64   `json:"token"`
	LastHeartbeatMs float64 `json:"last_heartbeat_ms"`
	Chunks          int64   `json:"chunks"`
	// AttachedAfterServingMs is when it registered with this primary,
	// counted from the primary's promotion.
	AttachedAfterServingMs float64 `json:"attached_after_serving_ms"`
	FreeBytes              int64   `json:"free_bytes"`
}

// Chunkservers is `ctl chunkservers`.
type Chunkservers struct {
	Primary      string            `json:"primary"`
	Token        int64             `json:"token"`
	Chunkservers []ChunkserverInfo `json:"chunkservers"`
}

// grpcConn returns a cached connection to addr (a master or a chunkserver).
func (c *Client) grpcConn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	cc, ok := c.conns[addr]
	if !ok {
		opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.cfg.DialOptions...)
		var err error
		cc, err = grpc.NewClient(addr, opts...)
		if err != nil {
			return nil, fmt.Errorf("client: dial %s: %w", addr, err)
		}
		c.conns[addr] = cc
	}
	return cc, nil
}

// callChunk runs fn against the primary's ChunkMaster service, retrying
// while the primary is unknown, changing or asks to retry (UNAVAILABLE), and
// on an unknown outcome (the calls made through it are idempotent).
func (c *Client) callChunk(ctx context.Context, fn func(ctx context.Context, m chunkpb.ChunkMasterClient) error) error {
	return c.onPrimary(ctx, true, 30*time.Second, func(ctx context.Context, addr string) error {
		cc, err := c.grpcConn(addr)
		if err != nil {
			return err
		}
		return fn(ctx, chunkpb.NewChunkMasterClient(cc))
	})
}

// Chunkservers lists the chunkservers registered with the primary.
func (c *Client) Chunkservers(ctx context.Context) (Chunkservers, error) {
	var r *chunkpb.ListChunkserversResponse
	err := c.callChunk(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient) error {
		var err error
		r, err = m.ListChunkservers(ctx, &chunkpb.ListChunkserversRequest{})
		return err
	})
	if err != nil {
		return Chunkservers{}, err
	}
	out := Chunkservers{Primary: r.Primary, Token: r.Token, Chunkservers: []ChunkserverInfo{}}
	for _, s := range r.Chunkservers {
		out.Chunkservers = append(out.Chunkservers, ChunkserverInfo{ID: s.Id, Address: s.Address, Token: s.Token,
			LastHeartbeatMs: s.LastHeartbeatMs, Chunks: s.Chunks, AttachedAfterServingMs: s.AttachedAfterServingMs, FreeBytes: s.FreeBytes})
	}
	return out, nil
}

// PutFile stores the local file local at path (see Put).
func (c *Client) PutFile(ctx context.Context, local, path string) (int64, error) {
	f, err := os.Open(local)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return 0, fmt.Errorf("put %s: local file %s: %w", path, local, err)
	}
	defer f.Close()
	return c.Put(ctx, path, f)
}

// Put stores everything r yields as a new file at path and returns its
// size. The file appears at path only once all its data is written on
// every replica (it is written under a hidden name in the same directory,
// then renamed), so a reader never sees a partial file; a failed Put leaves
// nothing at path. path must not exist (ErrExists) and its directory must
// (ErrNotFound). Put survives a master failover and the loss of a
// chunkserver while it runs; a full disk on a chunkserver fails it with an
// error naming that chunkserver.
func (c *Client) Put(ctx context.Context, path string, r io.Reader) (int64, error) {
	if err := checkNewPath(path); err != nil {
		return 0, err
	}
	if _, err := c.Stat(ctx, path); err == nil {
		return 0, &Error{Msg: fmt.Sprintf("put %s: path already exists; remove it first or choose another path", path), kind: ErrExists}
	} else if !errors.Is(err, ErrNotFound) {
		return 0, fmt.Errorf("put %s: %w", path, err)
	}
	tmp := hiddenName(path)
	if err := c.Create(ctx, tmp); err != nil {
		if errors.Is(err, ErrNotFound) {
			return 0, &Error{Msg: fmt.Sprintf("put %s: parent directory %s does not exist; create it first (ctl mkdir)", path, parentDir(path)), kind: ErrNotFound}
		}
		return 0, fmt.Errorf("put %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			c.Delete(dctx, tmp) // its chunks are garbage-collected
			cancel()
		}
	}()
	loc, err := c.locate(ctx, tmp)
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", path, err)
	}
	buf := make([]byte, loc.ChunkSize)
	var total int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return total, fmt.Errorf("put %s: read input at byte %d: %w", path, total+int64(n), rerr)
		}
		if n > 0 {
			if err := c.putChunk(ctx, tmp, buf[:n]); err != nil {
				return total, fmt.Errorf("put %s: chunk %d (bytes %d..%d): %w", path, total/loc.ChunkSize, total, total+int64(n), err)
			}
			total += int64(n)
		}
		if n < len(buf) {
			break
		}
	}
	if err := c.setSize(ctx, tmp, total); err != nil {
		return total, fmt.Errorf("put %s: %w", path, err)
	}
	if err := c.Rename(ctx, tmp, path); err != nil {
		if errors.Is(err, ErrExists) {
			return total, &Error{Msg: fmt.Sprintf("put %s: path was created by someone else meanwhile; nothing was written there", path), kind: ErrExists}
		}
		return total, fmt.Errorf("put %s: publish: %w", path, err)
	}
	ok = true
	return total, nil
}

func hiddenName(p string) string {
	var b [6]byte
	rand.Read(b[:])
	return path.Join(parentDir(p), "."+path.Base(p)+".put-"+hex.EncodeToString(b[:]))
}

func parentDir(p string) string {
	if d := path.Dir(p); d != "" {
		return d
	}
	return "/"
}

// idempotent runs a mutation of the ChunkMaster service under the client's
// session with a fresh (lane, seq) that retries reuse, as mutate does for
// the namespace.
func (c *Client) idempotent(ctx context.Context, fn func(ctx context.Context, m chunkpb.ChunkMasterClient, session uint64, id string, seq uint64) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DefaultTimeout)
		defer cancel()
	}
	l, err := c.takeLane(ctx)
	if err != nil {
		return err
	}
	defer c.putLane(l)
	sid, err := c.session(ctx)
	if err != nil {
		return err
	}
	l.seq++
	id, seq := l.id, l.seq
	attempted := false
	err = c.callChunk(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient) error {
		attempted = true
		return fn(ctx, m, sid, id, seq)
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && errors.Is(err, ErrUnknownResult):
		// The session expired (callChunk retries every other unknown
		// outcome while ctx lives): the next call registers a new one.
		c.dropSession(sid)
	case ctx.Err() != nil && attempted && !definite(err):
		return &Error{Msg: fmt.Sprintf("outcome unknown: %v", err), kind: ErrUnknownResult, cause: ctx.Err()}
	}
	return err
}

// definite reports whether err is the master's answer that an op failed.
func definite(err error) bool {
	for _, s := range []error{ErrNotFound, ErrExists, ErrInvalid, ErrPrecondition} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func (c *Client) setSize(ctx context.Context, path string, size int64) error {
	return c.idempotent(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient, session uint64, id string, seq uint64) error {
		_, err := m.SetFileSize(ctx, &chunkpb.SetFileSizeRequest{Path: path, Size: size, Session: session, ClientId: id, Seq: seq})
		return err
	})
}

// putChunk appends one chunk holding data to path.
func (c *Client) putChunk(ctx context.Context, path string, data []byte) error {
	var l *chunkpb.ChunkLease
	err := c.idempotent(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient, session uint64, id string, seq uint64) error {
		var err error
		l, err = m.AllocateChunk(ctx, &chunkpb.AllocateRequest{Path: path, Session: session, ClientId: id, Seq: seq})
		return err
	})
	if err != nil {
		return fmt.Errorf("allocate: %w", err)
	}
	return c.writeChunk(ctx, path, l, 0, data)
}

// writeChunk writes data at offset of a chunk, asking the master for the
// lease again and retrying the same bytes while the failure is one a new
// lease can cure (a lease holder gone or changed, a replica unreachable).
func (c *Client) writeChunk(ctx context.Context, path string, l *chunkpb.ChunkLease, offset int64, data []byte) error {
	backoff := 20 * time.Millisecond
	for {
		err := c.writeOnce(ctx, l, offset, data)
		if err == nil {
			return nil
		}
		switch status.Code(err) {
		case codes.ResourceExhausted, codes.InvalidArgument, codes.DataLoss:
			return fromStatus(err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), fromStatus(err))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), fromStatus(err))
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
		h := l.Handle
		err = c.callChunk(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient) error {
			var err error
			l, err = m.GetLease(ctx, &chunkpb.LeaseRequest{Path: path, Handle: h})
			return err
		})
		if err != nil {
			return fmt.Errorf("lease of chunk %d: %w", h, err)
		}
	}
}

// writeOnce streams one write to the lease holder.
func (c *Client) writeOnce(ctx context.Context, l *chunkpb.ChunkLease, offset int64, data []byte) error {
	if l.Primary == nil {
		return status.Errorf(codes.Unavailable, "chunk %d: the lease holder is not registered", l.Handle)
	}
	cc, err := c.grpcConn(l.Primary.Address)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second+time.Duration(len(data)>>20)*time.Second)
	defer cancel()
	stream, err := chunkpb.NewChunkserverClient(cc).Write(wctx)
	if err != nil {
		return err
	}
	for i := 0; i == 0 || i < len(data); i += frameSize {
		m := &chunkpb.WriteRequest{Data: data[i:min(i+frameSize, len(data))]}
		if i == 0 {
			m.Handle, m.Version, m.Offset, m.Length = l.Handle, l.Version, offset, int64(len(data))
		}
		if err := stream.Send(m); err != nil {
			_, err = stream.CloseAndRecv()
			return chunkserverErr(l.Primary, err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return chunkserverErr(l.Primary, err)
	}
	return nil
}

// chunkserverErr names the chunkserver in err, keeping its code.
func chunkserverErr(r *chunkpb.Replica, err error) error {
	st := status.Convert(err)
	msg := st.Message()
	if !strings.Contains(msg, r.Id) {
		msg = fmt.Sprintf("chunkserver %s (%s): %s", r.Id, r.Address, msg)
	}
	return status.Error(st.Code(), msg)
}

// locate asks the primary: writers need its view of the file's chunks.
func (c *Client) locate(ctx context.Context, path string) (*chunkpb.LocateResponse, error) {
	var r *chunkpb.LocateResponse
	err := c.callChunk(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient) error {
		var err error
		r, err = m.Locate(ctx, &chunkpb.LocateRequest{Path: path})
		return err
	})
	return r, err
}

// locateRead is LocateInfo, for readers: every caught-up member answers
// it, so a file can be read while the primary is unavailable.
func (c *Client) locateRead(ctx context.Context, path string) (*chunkpb.LocateResponse, error) {
	r, _, err := c.LocateInfo(ctx, path)
	return r, err
}

// Cat writes the file at path to w and returns the number of bytes
// written. Each chunk is read from one of its up-to-date replicas, any of
// them; a replica that fails (down, stale, failing its checksums) is left
// for the next one, from the byte where it stopped.
func (c *Client) Cat(ctx context.Context, path string, w io.Writer) (int64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	loc, err := c.locateRead(ctx, path)
	if err != nil {
		return 0, fmt.Errorf("cat %s: %w", path, err)
	}
	var total int64
	for i, ch := range loc.Chunks {
		want := min(loc.ChunkSize, loc.Size-int64(i)*loc.ChunkSize)
		if want <= 0 {
			break
		}
		n, err := c.readChunk(ctx, path, i, ch, want, w)
		total += n
		if err != nil {
			return total, fmt.Errorf("cat %s: chunk %d (handle %d, bytes %d..%d): %w", path, i, ch.Handle,
				int64(i)*loc.ChunkSize, int64(i)*loc.ChunkSize+want, err)
		}
	}
	if total != loc.Size {
		return total, fmt.Errorf("cat %s: the file's chunks hold %d bytes but its size is %d", path, total, loc.Size)
	}
	return total, nil
}

// readChunk copies want bytes of chunk ch to w, from whichever replicas can
// serve them; it asks the master for the replicas again when every one it
// knows failed.
func (c *Client) readChunk(ctx context.Context, path string, idx int, ch *chunkpb.LocatedChunk, want int64, w io.Writer) (int64, error) {
	var off int64
	backoff := 50 * time.Millisecond
	var errs []string
	for {
		for _, r := range ch.Replicas {
			n, err := c.readFrom(ctx, r, ch, off, want-off, w)
			off += n
			if off == want {
				return off, nil
			}
			if err == nil {
				err = fmt.Errorf("replica holds only %d of the %d bytes expected", off, want)
			}
			if _, ok := err.(writeError); ok {
				return off, err.(writeError).err
			}
			errs = append(errs, fmt.Sprintf("%s: %v", r.Id, status.Convert(err).Message()))
		}
		if ctx.Err() != nil {
			return off, fmt.Errorf("%w; replicas tried: %s", ctx.Err(), strings.Join(errs, "; "))
		}
		if len(errs) > 0 && len(errs) >= 8 {
			return off, fmt.Errorf("no replica could serve it: %s", strings.Join(errs, "; "))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return off, fmt.Errorf("%w; replicas tried: %s", ctx.Err(), strings.Join(errs, "; "))
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
		loc, err := c.locateRead(ctx, path)
		if err != nil {
			return off, err
		}
		if idx >= len(loc.Chunks) || loc.Chunks[idx].Handle != ch.Handle {
			return off, fmt.Errorf("the file changed while it was read")
		}
		ch = loc.Chunks[idx]
		if len(ch.Replicas) == 0 {
			errs = append(errs, "the master knows no up-to-date replica")
		}
	}
}

// writeError is a failure to write to the caller's writer: not the
// replica's fault, not retried.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// readFrom streams length bytes at off of chunk ch from replica r into w.
func (c *Client) readFrom(ctx context.Context, r *chunkpb.Replica, ch *chunkpb.LocatedChunk, off, length int64, w io.Writer) (int64, error) {
	cc, err := c.grpcConn(r.Address)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := chunkpb.NewChunkserverClient(cc).Read(rctx, &chunkpb.ReadRequest{Handle: ch.Handle, Version: ch.Version, Offset: off, Length: length})
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if n+int64(len(m.Data)) > length {
			return n, fmt.Errorf("replica sent more than the %d bytes asked", length)
		}
		k, err := w.Write(m.Data)
		n += int64(k)
		if err != nil {
			return n, writeError{err}
		}
	}
}
