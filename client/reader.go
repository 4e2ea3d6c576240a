package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
)

// The streaming reader. Open asks the master once where the file's chunks
// live; reads then go straight to the chunkservers and fetch only the bytes
// asked for. A sequential reader (Read, or ReadAt at increasing offsets, as
// a kernel's FUSE reads arrive) keeps a bounded window of blocks in flight
// ahead of it, so a stream never waits for one round trip per call.

const (
	// readBlock is the unit a Reader fetches and caches.
	readBlock = 1 << 20
	// readAhead is how many blocks past the current one a sequential
	// reader keeps in flight; a Reader holds at most readAhead+2 blocks.
	readAhead = 8
)

// Reader reads one file. It is safe for concurrent use; ReadAt calls may
// run in parallel. Close releases its blocks and stops its fetches.
type Reader struct {
	c    *Client
	path string
	ctx  context.Context // ends with Close
	stop context.CancelFunc
	wg   sync.WaitGroup // the block fetches

	mu     sync.Mutex // guards the fields below
	loc    *chunkpb.LocateResponse
	blocks map[int64]*block // by block index; at most readAhead+2
	last   int64            // the block index of the last ReadAt, -1 for none
	pos    int64            // Read's offset
	closed bool
}

// block is one fetched (or fetching) block; data and err are set before
// done is closed.
type block struct {
	done chan struct{}
	data []byte
	err  error
}

// Open opens the file at path for reading. The file's size and chunks are
// those of the moment Open asks; a file that grows later (record append)
// needs a new Open to see the new bytes.
func (c *Client) Open(ctx context.Context, path string) (*Reader, error) {
	loc, err := c.locateRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rctx, stop := context.WithCancel(context.Background())
	return &Reader{c: c, path: path, ctx: rctx, stop: stop, loc: loc, blocks: map[int64]*block{}, last: -1}, nil
}

// Size is the file's size in bytes.
func (r *Reader) Size() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loc.Size
}

// Close stops the reader's fetches and waits for them. It is safe to call
// twice.
func (r *Reader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.blocks = map[int64]*block{}
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
	return nil
}

// Read reads the next bytes of the file (io.Reader).
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	pos := r.pos
	r.mu.Unlock()
	n, err := r.ReadAt(p, pos)
	r.mu.Lock()
	r.pos += int64(n)
	r.mu.Unlock()
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read (io.Seeker).
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.loc.Size
	default:
		return 0, fmt.Errorf("seek %s: whence %d: %w", r.path, whence, ErrInvalid)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek %s: offset %d is negative: %w", r.path, offset, ErrInvalid)
	}
	r.pos = offset
	return offset, nil
}

// WriteTo copies the rest of the file to w (io.WriterTo), so io.Copy
// needs no buffer of its own.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		r.mu.Lock()
		pos, size := r.pos, r.loc.Size
		r.mu.Unlock()
		if pos >= size {
			return total, nil
		}
		b, err := r.block(pos / readBlock)
		if err != nil {
			return total, err
		}
		n, err := w.Write(b[pos%readBlock:])
		total += int64(n)
		r.mu.Lock()
		r.pos += int64(n)
		r.mu.Unlock()
		if err != nil {
			return total, err
		}
	}
}

// ReadAt reads len(p) bytes at off (io.ReaderAt); fewer, with io.EOF, at
// the end of the file.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s at %d: negative offset: %w", r.path, off, ErrInvalid)
	}
	size := r.Size()
	var n int
	for n < len(p) && off+int64(n) < size {
		at := off + int64(n)
		b, err := r.block(at / readBlock)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], b[at%readBlock:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns block i, fetching it (and, for a sequential reader, the
// blocks after it) if it is not cached.
func (r *Reader) block(i int64) ([]byte, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("read %s: %w", r.path, ErrClosed)
	}
	sequential := i == r.last || i == r.last+1
	r.last = i
	for j := range r.blocks {
		if j < i-1 || j > i+readAhead { // behind the reader, or a window left by a seek
			delete(r.blocks, j)
		}
	}
	b := r.startLocked(i)
	if sequential {
		nblocks := (r.loc.Size + readBlock - 1) / readBlock
		for j := i + 1; j <= i+readAhead && j < nblocks; j++ {
			r.startLocked(j)
		}
	}
	r.mu.Unlock()
	select {
	case <-b.done:
	case <-r.ctx.Done():
		return nil, fmt.Errorf("read %s: %w", r.path, ErrClosed)
	}
	if b.err != nil {
		r.mu.Lock()
		if r.blocks[i] == b {
			delete(r.blocks, i) // the next call tries again
		}
		r.mu.Unlock()
		return nil, b.err
	}
	return b.data, nil
}

// startLocked returns block i, starting its fetch if it is not cached.
func (r *Reader) startLocked(i int64) *block {
	if b := r.blocks[i]; b != nil {
		return b
	}
	b := &block{done: make(chan struct{})}
	r.blocks[i] = b
	off := i * readBlock
	length := min(readBlock, r.loc.Size-off)
	loc := r.loc
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(b.done)
		buf := make([]byte, length)
		ctx, cancel := context.WithTimeout(r.ctx, r.c.cfg.DefaultTimeout)
		defer cancel()
		b.err = r.fetch(ctx, loc, buf, off)
		b.data = buf
	}()
	return b
}

// fetch fills dst with the file's bytes at off, chunk by chunk, each from
// whichever replica serves it (see readChunkRange).
func (r *Reader) fetch(ctx context.Context, loc *chunkpb.LocateResponse, dst []byte, off int64) error {
	for len(dst) > 0 {
		idx := int(off / loc.ChunkSize)
		if idx >= len(loc.Chunks) {
			return fmt.Errorf("read %s at %d: the file's size is %d but it has only %d chunks of %d bytes",
				r.path, off, loc.Size, len(loc.Chunks), loc.ChunkSize)
		}
		inChunk := off % loc.ChunkSize
		n := min(int64(len(dst)), loc.ChunkSize-inChunk)
		ch, err := r.c.readChunkRange(ctx, r.path, idx, loc.Chunks[idx], inChunk, dst[:n])
		if err != nil {
			return fmt.Errorf("read %s: chunk %d (handle %d, bytes %d..%d): %w", r.path, idx, loc.Chunks[idx].Handle,
				off, off+n, err)
		}
		if ch != loc.Chunks[idx] {
			r.mu.Lock()
			if r.loc.Chunks[idx].Handle == ch.Handle {
				r.loc.Chunks[idx] = ch // newer replicas, for the next blocks
			}
			r.mu.Unlock()
		}
		dst, off = dst[n:], off+n
	}
	return nil
}

// sliceWriter fills a byte slice.
type sliceWriter struct {
	b []byte
	n int
}

func (w *sliceWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.b)-w.n {
		return 0, errors.New("replica sent more bytes than asked")
	}
	w.n += copy(w.b[w.n:], p)
	return len(p), nil
}

// readChunkRange fills dst with the bytes at off of chunk ch (the idx-th of
// the file at path), from whichever replicas serve them, each going on
// from the byte where the previous one stopped; it asks the master again
// for the replicas when every one it knows failed. It returns the chunk as
// last located (with its newer replica list, if it asked).
func (c *Client) readChunkRange(ctx context.Context, path string, idx int, ch *chunkpb.LocatedChunk, off int64, dst []byte) (*chunkpb.LocatedChunk, error) {
	w := &sliceWriter{b: dst}
	want := int64(len(dst))
	backoff := 50 * time.Millisecond
	var errs []string
	for {
		// Start at a replica chosen by the offset, so a reader's blocks in
		// flight spread over every replica.
		for k := range ch.Replicas {
			rep := ch.Replicas[(k+int(off/readBlock))%len(ch.Replicas)]
			got := int64(w.n)
			_, err := c.readFrom(ctx, rep, ch, off+got, want-got, w)
			if int64(w.n) == want {
				return ch, nil
			}
			if err == nil {
				err = fmt.Errorf("replica holds only %d of the bytes up to %d", off+int64(w.n), off+want)
			}
			errs = append(errs, fmt.Sprintf("%s: %v", rep.Id, status.Convert(err).Message()))
		}
		if len(errs) > 16 {
			errs = errs[len(errs)-16:]
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ch, fmt.Errorf("%w; replicas tried: %s", ctx.Err(), strings.Join(errs, "; "))
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
		loc, err := c.locateRead(ctx, path)
		if err != nil {
			return ch, err
		}
		if idx >= len(loc.Chunks) || loc.Chunks[idx].Handle != ch.Handle {
			return ch, fmt.Errorf("the file changed while it was read (chunk %d is no longer handle %d)", idx, ch.Handle)
		}
		ch = loc.Chunks[idx]
		if len(ch.Replicas) == 0 {
			errs = append(errs, "the master knows no up-to-date replica")
		}
	}
}
