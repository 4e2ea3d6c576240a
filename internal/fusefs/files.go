package fusefs

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/gfsha/master/client"
)

// Create makes a new file: it is written sequentially and appears on close.
func (n *node) Create(ctx context.Context, name string, flags uint32, _ uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p := n.child(name)
	if flags&syscall.O_APPEND != 0 {
		// A new file for appending: it exists at once (appenders meet there).
		mctx, cancel := n.meta(ctx)
		defer cancel()
		if err := n.fsys.c.Create(mctx, p); err != nil {
			return nil, nil, 0, errno(err)
		}
		e, err := n.fsys.c.Stat(mctx, p)
		if err != nil {
			return nil, nil, 0, errno(err)
		}
		return n.newChild(ctx, e, out), &appendHandle{fsys: n.fsys, path: p}, fuse.FOPEN_DIRECT_IO, 0
	}
	w, err := n.fsys.c.CreateFile(n.fsys.ctx, p)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	h := n.fsys.track(p, w)
	h.owner = callerPid(ctx)
	return n.newChild(ctx, client.Entry{Name: name}, out), h, 0, 0
}

// track registers a file being written, so that stat sees it.
func (f *FS) track(p string, w *client.Writer) *writeHandle {
	f.mu.Lock()
	f.pending[p] = w
	f.mu.Unlock()
	return &writeHandle{fsys: f, path: p, w: w}
}

// Open opens a file: for reading, for appending (O_APPEND), or for writing
// a replacement. The kernel sends O_TRUNC as a separate truncate to size 0
// on the new handle (see writeHandle.truncate); a write without it would be
// a random overwrite: EOPNOTSUPP.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	p := n.path()
	acc := flags & syscall.O_ACCMODE
	switch {
	case acc == syscall.O_RDONLY:
		r, err := n.fsys.c.Open(n.fsys.ctx, p)
		if err != nil {
			return nil, 0, errno(err)
		}
		return &readHandle{r: r, fsys: n.fsys, path: p}, 0, 0
	case flags&syscall.O_APPEND != 0:
		return &appendHandle{fsys: n.fsys, path: p}, fuse.FOPEN_DIRECT_IO, 0
	}
	if n.fsys.writer(p) != nil {
		return nil, 0, syscall.EBUSY // being written by this mount
	}
	h := &writeHandle{fsys: n.fsys, path: p, owner: callerPid(ctx)}
	n.fsys.mu.Lock()
	n.fsys.opened[p] = h // for the truncate the kernel sends without the handle
	n.fsys.mu.Unlock()
	if flags&syscall.O_TRUNC != 0 {
		if e := h.truncate(); e != 0 {
			return nil, 0, e
		}
	}
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// readHandle reads a file through the client's streaming Reader.
type readHandle struct {
	r    *client.Reader
	fsys *FS
	path string
}

var (
	_ fs.FileReader   = (*readHandle)(nil)
	_ fs.FileReleaser = (*readHandle)(nil)
)

func (h *readHandle) Read(_ context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.r.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		h.fsys.logf("read %s at %d: %v", h.path, off, err)
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *readHandle) Release(context.Context) syscall.Errno {
	h.r.Close()
	return 0
}

// writeHandle writes a new file sequentially; the first flush (close)
// publishes it. A handle opened on an existing file has no writer until it
// is truncated to 0, which starts a replacement.
type writeHandle struct {
	fsys  *FS
	path  string
	owner uint32 // pid of the process that opened it: its close publishes

	mu   sync.Mutex // guards w, err and done; the kernel may call in parallel
	w    *client.Writer
	err  error
	done bool
}

// startsEmpty says whether a write at off, on a handle with no writer
// yet, starts an empty file: writing it from 0 is no overwrite (fio and
// some editors create the file, close it, and open it again to write).
func (h *writeHandle) startsEmpty(ctx context.Context, off int64) bool {
	h.mu.Lock()
	w := h.w
	h.mu.Unlock()
	if w != nil || off != 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, h.fsys.timeout)
	defer cancel()
	e, err := h.fsys.c.Stat(ctx, h.path)
	return err == nil && !e.Dir && e.Size == 0
}

// forget drops h from the handles waiting for a truncate.
func (f *FS) forget(h *writeHandle) {
	f.mu.Lock()
	if f.opened[h.path] == h {
		delete(f.opened, h.path)
	}
	f.mu.Unlock()
}

// truncate starts writing a replacement of the file (open with O_TRUNC,
// ftruncate to 0 before any write).
func (h *writeHandle) truncate() syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != nil {
		if h.w.Size() == 0 {
			return 0
		}
		return syscall.EOPNOTSUPP
	}
	w, err := h.fsys.c.ReplaceFile(h.fsys.ctx, h.path)
	if err != nil {
		return errno(err)
	}
	h.fsys.mu.Lock()
	h.fsys.pending[h.path] = w
	h.fsys.mu.Unlock()
	h.w = w
	return 0
}

var (
	_ fs.FileWriter   = (*writeHandle)(nil)
	_ fs.FileFlusher  = (*writeHandle)(nil)
	_ fs.FileReleaser = (*writeHandle)(nil)
	_ fs.FileFsyncer  = (*writeHandle)(nil)
	_ fs.FileReader   = (*writeHandle)(nil)
)

func (h *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.startsEmpty(ctx, off) {
		if e := h.truncate(); e != 0 {
			return 0, e
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return 0, syscall.EBADF
	}
	if h.err != nil {
		return 0, syscall.EIO
	}
	if h.w == nil || off != h.w.Size() {
		return 0, syscall.EOPNOTSUPP // random overwrite
	}
	n, err := h.w.Write(data)
	if err != nil {
		h.err = err
		h.fsys.logf("write %s: %v", h.path, err)
		return uint32(n), syscall.EIO
	}
	return uint32(n), 0
}

// Read of a file still being written: its bytes are not readable yet.
func (h *writeHandle) Read(context.Context, []byte, int64) (fuse.ReadResult, syscall.Errno) {
	return nil, syscall.EBADF
}

// Flush is close(2) of one descriptor. The opener's close publishes the
// file and reports the write's outcome. The kernel also flushes when any
// other copy of the descriptor closes, e.g. the copy a forked child
// inherits and drops at exec: those are ignored, and Release (the last
// close) publishes if the opener never closed.
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	if pid := callerPid(ctx); pid != 0 && h.owner != 0 && pid != h.owner {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.finishLocked()
}

// callerPid is the process (thread group) a FUSE request came from, 0 if
// unknown. The kernel names the calling thread; its thread group is the
// process, whichever of its threads opens and closes.
func callerPid(ctx context.Context) uint32 {
	c, ok := fuse.FromContext(ctx)
	if !ok || c.Pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(c.Pid), 10) + "/status")
	if err != nil {
		return c.Pid
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return c.Pid
}

func (h *writeHandle) finishLocked() syscall.Errno {
	if h.done {
		if h.err != nil {
			return syscall.EIO
		}
		return 0
	}
	h.done = true
	if h.w == nil { // opened for writing, never truncated nor written
		h.fsys.forget(h)
		return 0
	}
	if h.err == nil {
		h.err = h.w.Close()
		if h.err != nil {
			h.fsys.logf("close %s: %v", h.path, h.err)
		}
	} else {
		h.w.Abort()
	}
	h.fsys.mu.Lock()
	if h.fsys.pending[h.path] == h.w {
		delete(h.fsys.pending, h.path)
	}
	h.fsys.mu.Unlock()
	h.fsys.forget(h)
	if h.err != nil {
		if errors.Is(h.err, client.ErrExists) {
			return syscall.EEXIST
		}
		return syscall.EIO
	}
	return 0
}

// Fsync: the data is durable once the file is published; before that it
// is not reachable anyway. Accepted so that editors and cp work.
func (h *writeHandle) Fsync(context.Context, uint32) syscall.Errno { return 0 }

func (h *writeHandle) Release(context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.finishLocked()
	return 0
}
