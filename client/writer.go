package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gfsha/master/api/chunkpb"
)

// The streaming writer. Bytes are cut into pieces of at most writePiece
// bytes that never cross a chunk boundary; each piece is written by its own
// goroutine to the chunk's lease holder (which forwards it to the
// secondaries), at most writeInFlight at a time, so memory stays below
// (writeInFlight+1) pieces whatever the file's size. Pieces of one chunk are
// written in order (a chunk never has a hole); pieces of different chunks
// overlap. Chunks are allocated in file order by the caller's goroutine.

const writeInFlight = 4

// writePiece is the largest piece (a variable so that tests can make
// several pieces of one chunk be in flight at once).
var writePiece int64 = 8 << 20

// Writer writes a new file. It is not safe for concurrent use (one
// writer, as a file is written sequentially). The file appears at its path,
// with its size, only when Close succeeds; Abort (or a failed Close) leaves
// nothing there.
type Writer struct {
	c    *Client
	path string // where the file appears on Close
	tmp  string // the hidden name it is written under
	ctx  context.Context
	stop context.CancelFunc

	chunkSize int64
	replace   bool                // Close replaces an existing file at path
	piece     int64               // the largest piece
	size      int64               // bytes accepted by Write so far
	buf       []byte              // the piece being filled
	bufOff    int64               // its offset in the file
	lease     *chunkpb.ChunkLease // of the chunk being filled
	prev      chan struct{}       // closed when the previous piece of the same chunk is written
	sem       chan struct{}       // one token per piece in flight
	wg        sync.WaitGroup      // the piece writers

	placed Placement // how the chunks allocated so far were placed

	mu   sync.Mutex // guards err
	err  error      // the first failure
	done bool       // Close or Abort ran
}

// CreateFile starts a new file at path, which must not exist (ErrExists)
// in an existing directory (ErrNotFound). The data is written under a
// hidden name in the same directory and published at path by Close, so
// readers never see a partial file. The Writer survives master failovers
// and chunkserver losses while it runs, as Put does; ctx bounds the whole
// write, Close included.
func (c *Client) CreateFile(ctx context.Context, path string) (*Writer, error) {
	if _, err := c.Stat(ctx, path); err == nil {
		return nil, &Error{Msg: fmt.Sprintf("create %s: path already exists; remove it first or choose another path", path), kind: ErrExists}
	} else if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return c.newWriter(ctx, path, false)
}

// ReplaceFile is CreateFile for a path that may exist: Close replaces the
// file there, if any, with the new one. The replacement is two steps
// (delete, then rename): a reader between them finds no file.
func (c *Client) ReplaceFile(ctx context.Context, path string) (*Writer, error) {
	return c.newWriter(ctx, path, true)
}

func (c *Client) newWriter(ctx context.Context, path string, replace bool) (*Writer, error) {
	tmp := hiddenName(path)
	if err := c.Create(ctx, tmp); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, &Error{Msg: fmt.Sprintf("create %s: parent directory %s does not exist; create it first (ctl mkdir)", path, parentDir(path)), kind: ErrNotFound}
		}
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	loc, err := c.locate(ctx, tmp)
	if err != nil {
		c.deleteQuietly(ctx, tmp)
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	wctx, stop := context.WithCancel(ctx)
	return &Writer{c: c, path: path, tmp: tmp, ctx: wctx, stop: stop, chunkSize: loc.ChunkSize, replace: replace, piece: writePiece,
		sem: make(chan struct{}, writeInFlight)}, nil
}

func (c *Client) deleteQuietly(ctx context.Context, path string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	c.Delete(dctx, path) // its chunks are garbage-collected
	cancel()
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// Placement is how the file's chunks were placed so far (complete after
// Close).
func (w *Writer) Placement() Placement { return w.placed }

// Placement is how a written file's chunks were placed on the
// chunkservers. A chunk is under-replicated when the master could place it
// on fewer chunkservers than chunk.replication (fewer are registered, or
// have room); the data is written all the same, and the master copies such
// chunks to more chunkservers once there are (see `ctl fsck`).
type Placement struct {
	// Chunks is the number of chunks allocated.
	Chunks int `json:"chunks"`
	// Replicas is the fewest replicas any chunk was placed on (0 for a
	// file without chunks).
	Replicas int `json:"replicas"`
	// Wanted is chunk.replication (0 when the master does not say).
	Wanted int `json:"wanted"`
	// UnderReplicated is the number of chunks placed on fewer than Wanted.
	UnderReplicated int `json:"under_replicated"`
}

// Short reports whether some chunk got fewer replicas than asked for.
func (p Placement) Short() bool { return p.UnderReplicated > 0 }

func (p *Placement) add(l *chunkpb.ChunkLease) {
	n := len(l.Secondaries)
	if l.Primary != nil {
		n++
	}
	if p.Chunks == 0 || n < p.Replicas {
		p.Replicas = n
	}
	p.Chunks++
	p.Wanted = max(p.Wanted, int(l.Replication))
	if n < int(l.Replication) {
		p.UnderReplicated++
	}
}

// Path is where the file appears on Close.
func (w *Writer) Path() string { return w.path }

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.stop()
	}
	w.mu.Unlock()
}

// Write appends p to the file (io.Writer). It returns the first failure of
// any earlier piece as soon as it is known.
func (w *Writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s: %w", w.path, ErrClosed)
	}
	var n int
	for len(p) > 0 {
		if err := w.failed(); err != nil {
			return n, err
		}
		if w.buf == nil {
			w.bufOff = w.size
			room := min(w.piece, w.chunkSize-w.size%w.chunkSize)
			w.buf = make([]byte, 0, room)
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p, n, w.size = p[k:], n+k, w.size+int64(k)
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush sends the buffered piece, waiting for a free slot first.
func (w *Writer) flush() error {
	data, off := w.buf, w.bufOff
	w.buf = nil
	if len(data) == 0 {
		return nil
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		if err := w.failed(); err != nil {
			return err
		}
		return fmt.Errorf("write %s: %w", w.path, w.ctx.Err())
	}
	inChunk := off % w.chunkSize
	if inChunk == 0 {
		// A new chunk: allocate it now, in file order.
		var l *chunkpb.ChunkLease
		err := w.c.idempotent(w.ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient, session uint64, id string, seq uint64) error {
			var err error
			l, err = m.AllocateChunk(ctx, &chunkpb.AllocateRequest{Path: w.tmp, Session: session, ClientId: id, Seq: seq})
			return err
		})
		if err != nil {
			<-w.sem
			err = fmt.Errorf("write %s: allocate chunk %d: %w", w.path, off/w.chunkSize, err)
			w.fail(err)
			return err
		}
		w.lease, w.prev = l, nil
		w.placed.add(l)
	}
	l, prev, done := w.lease, w.prev, make(chan struct{})
	w.prev = done
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			case <-w.ctx.Done():
				return
			}
		}
		if w.failed() != nil {
			return
		}
		if err := w.c.writeChunk(w.ctx, w.tmp, l, inChunk, data); err != nil {
			w.fail(fmt.Errorf("write %s: chunk %d (bytes %d..%d): %w", w.path, off/w.chunkSize, off, off+int64(len(data)), err))
		}
	}()
	return nil
}

// Close writes what is buffered, waits for every piece, sets the file's
// size and publishes it at its path. On failure nothing is left at the
// path. Close after Close or Abort returns nil.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.stop()
	err := w.flush()
	w.wg.Wait()
	if err == nil {
		err = w.failed()
	}
	if err == nil {
		err = w.c.setSize(w.ctx, w.tmp, w.size)
		if err != nil {
			err = fmt.Errorf("write %s: set size: %w", w.path, err)
		}
	}
	if err == nil {
		err = w.c.Rename(w.ctx, w.tmp, w.path)
		if errors.Is(err, ErrExists) && w.replace {
			if err = w.c.Delete(w.ctx, w.path); err == nil || errors.Is(err, ErrNotFound) {
				err = w.c.Rename(w.ctx, w.tmp, w.path)
			}
		}
		if err != nil {
			if errors.Is(err, ErrExists) {
				err = &Error{Msg: fmt.Sprintf("write %s: path was created by someone else meanwhile; nothing was written there", w.path), kind: ErrExists}
			} else {
				err = fmt.Errorf("write %s: publish: %w", w.path, err)
			}
		}
	}
	if err != nil {
		w.c.deleteQuietly(w.ctx, w.tmp)
	}
	return err
}

// Abort stops the write and removes what was written. It is safe after
// Close (and then does nothing).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.fail(fmt.Errorf("write %s: aborted", w.path))
	w.wg.Wait()
	w.c.deleteQuietly(w.ctx, w.tmp)
}
