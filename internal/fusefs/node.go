package fusefs

import (
	"context"
	"errors"
	"log"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/gfsha/master/client"
)

// The modes every entry shows: the namespace has no permissions.
const (
	fileMode = 0o644
	dirMode  = 0o755
)

// FS is the state one mount shares between its nodes.
type FS struct {
	c   *client.Client
	ctx context.Context // ends with the mount; bounds writers and readers
	uid uint32
	gid uint32
	// timeout bounds one metadata call (stat, list, mkdir...). Data calls
	// are bounded by the mount's context only: a read or a write waits
	// through a failover.
	timeout time.Duration
	log     *log.Logger // nil: quiet

	mu      sync.Mutex                // guards pending and opened
	pending map[string]*client.Writer // files being written, by path: they exist on close
	opened  map[string]*writeHandle   // handles opened for writing an existing file, not yet truncated
}

// node is one file or directory; its path is where it sits in the tree.
type node struct {
	fs.Inode
	fsys *FS
}

var (
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeLinker    = (*node)(nil)
	_ fs.NodeSymlinker = (*node)(nil)
	_ fs.NodeMknoder   = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
)

// path is the node's path in the namespace.
func (n *node) path() string { return "/" + n.Path(nil) }

func (n *node) child(name string) string { return path.Join(n.path(), name) }

func (n *node) meta(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.fsys.timeout)
}

// errno maps a client error onto the errno a program expects.
func errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		// The kernel interrupted the call (the caller got a signal, e.g.
		// Go's preemption): EINTR makes the caller retry, EIO would fail it.
		return syscall.EINTR
	case errors.Is(err, client.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, client.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, client.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, client.ErrPrecondition):
		return syscall.ENOTEMPTY
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, client.ErrNoPrimary), errors.Is(err, client.ErrUnknownResult):
		return syscall.EIO
	}
	return syscall.EIO
}

func (f *FS) fill(out *fuse.Attr, e client.Entry) {
	out.Size = uint64(e.Size)
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = 1 << 20
	out.Owner = fuse.Owner{Uid: f.uid, Gid: f.gid}
	if e.Dir {
		out.Mode = fuse.S_IFDIR | dirMode
		out.Nlink = 2
	} else {
		out.Mode = fuse.S_IFREG | fileMode
		out.Nlink = 1
	}
	if !e.Mtime.IsZero() {
		out.SetTimes(&e.Mtime, &e.Mtime, &e.Mtime)
	}
}

// logf reports a failure the program only sees as an errno.
func (f *FS) logf(format string, args ...any) {
	if f.log != nil {
		f.log.Printf(format, args...)
	}
}

func (f *FS) writer(p string) *client.Writer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending[p]
}

// stat describes p, including a file still being written by this mount.
func (n *node) stat(ctx context.Context, p string) (client.Entry, error) {
	if w := n.fsys.writer(p); w != nil {
		return client.Entry{Name: path.Base(p), Size: w.Size(), Mtime: time.Now()}, nil
	}
	ctx, cancel := n.meta(ctx)
	defer cancel()
	return n.fsys.c.Stat(ctx, p)
}

// Getattr is stat(2).
func (n *node) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e, err := n.stat(ctx, n.path())
	if err != nil && ctx.Err() != nil {
		return syscall.EINTR
	}
	if err != nil {
		if e := errno(err); e == syscall.EIO {
			n.fsys.logf("stat %s: %v", n.path(), err)
		}
		return errno(err)
	}
	n.fsys.fill(&out.Attr, e)
	return 0
}

// Setattr accepts what changes nothing the namespace keeps (see doc.go).
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	p := n.path()
	if sz, ok := in.GetSize(); ok && sz == 0 {
		// open(O_TRUNC) arrives as open, then a truncate without the handle.
		h, ok := fh.(*writeHandle)
		if !ok {
			n.fsys.mu.Lock()
			h = n.fsys.opened[p]
			n.fsys.mu.Unlock()
		}
		if h != nil {
			if e := h.truncate(); e != 0 {
				return e
			}
		}
	}
	e, err := n.stat(ctx, p)
	if err != nil {
		return errno(err)
	}
	// A file being written has no mode yet: mkstemp's fchmod is fine.
	if m, ok := in.GetMode(); ok && n.fsys.writer(p) == nil {
		want := uint32(fileMode)
		if e.Dir {
			want = dirMode
		}
		if m&0o7777 != want {
			return syscall.EPERM
		}
	}
	if u, ok := in.GetUID(); ok && u != n.fsys.uid {
		return syscall.EPERM
	}
	if g, ok := in.GetGID(); ok && g != n.fsys.gid {
		return syscall.EPERM
	}
	if sz, ok := in.GetSize(); ok && int64(sz) != e.Size {
		return syscall.EOPNOTSUPP
	}
	n.fsys.fill(&out.Attr, e)
	return 0
}

func (n *node) newChild(ctx context.Context, e client.Entry, out *fuse.EntryOut) *fs.Inode {
	n.fsys.fill(&out.Attr, e)
	mode := uint32(fuse.S_IFREG)
	if e.Dir {
		mode = fuse.S_IFDIR
	}
	return n.NewInode(ctx, &node{fsys: n.fsys}, fs.StableAttr{Mode: mode})
}

// Lookup finds a child by name.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	e, err := n.stat(ctx, n.child(name))
	if err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, e, out), 0
}

// Readdir lists a directory.
func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	ctx, cancel := n.meta(ctx)
	defer cancel()
	es, err := n.fsys.c.List(ctx, n.path())
	if err != nil {
		return nil, errno(err)
	}
	out := make([]fuse.DirEntry, len(es))
	for i, e := range es {
		out[i] = fuse.DirEntry{Name: e.Name, Mode: fuse.S_IFREG}
		if e.Dir {
			out[i].Mode = fuse.S_IFDIR
		}
	}
	return fs.NewListDirStream(out), 0
}

// Mkdir creates a directory.
func (n *node) Mkdir(ctx context.Context, name string, _ uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := n.child(name)
	mctx, cancel := n.meta(ctx)
	defer cancel()
	if err := n.fsys.c.Mkdir(mctx, p); err != nil {
		return nil, errno(err)
	}
	e, err := n.stat(ctx, p)
	if err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, e, out), 0
}

// Rmdir removes an empty directory.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, true)
}

// Unlink removes a file.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(ctx, name, false)
}

func (n *node) remove(ctx context.Context, name string, dir bool) syscall.Errno {
	p := n.child(name)
	e, err := n.stat(ctx, p)
	if err != nil {
		return errno(err)
	}
	switch {
	case dir && !e.Dir:
		return syscall.ENOTDIR
	case !dir && e.Dir:
		return syscall.EISDIR
	}
	ctx, cancel := n.meta(ctx)
	defer cancel()
	return errno(n.fsys.c.Delete(ctx, p))
}

// Rename moves an entry; onto an existing file it replaces it (in two
// steps), onto an existing empty directory too, as rename(2) does.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags != 0 { // RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT
		if flags == 1 { // RENAME_NOREPLACE: what the namespace does anyway
			flags = 0
		} else {
			return syscall.EINVAL
		}
	}
	src := n.child(name)
	dst := path.Join("/"+newParent.EmbeddedInode().Path(nil), newName)
	mctx, cancel := n.meta(ctx)
	defer cancel()
	err := n.fsys.c.Rename(mctx, src, dst)
	if !errors.Is(err, client.ErrExists) {
		return errno(err)
	}
	se, err := n.fsys.c.Stat(mctx, src)
	if err != nil {
		return errno(err)
	}
	de, err := n.fsys.c.Stat(mctx, dst)
	if err != nil {
		return errno(err)
	}
	switch {
	case se.Dir && !de.Dir:
		return syscall.ENOTDIR
	case !se.Dir && de.Dir:
		return syscall.EISDIR
	}
	if err := n.fsys.c.Delete(mctx, dst); err != nil && !errors.Is(err, client.ErrNotFound) {
		return errno(err)
	}
	return errno(n.fsys.c.Rename(mctx, src, dst))
}

// Link (hard links): the namespace has none.
func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Symlink: the namespace has none.
func (n *node) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EOPNOTSUPP
}

// Mknod: only regular files and directories exist.
func (n *node) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Statfs reports a large, mostly free file system (df works; the real
// figure is the chunkservers' free space, which `ctl chunkservers` shows).
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const bsize = 1 << 20
	out.Bsize, out.Frsize = bsize, bsize
	out.Blocks, out.Bfree, out.Bavail = 1<<30, 1<<30, 1<<30
	out.Files, out.Ffree = 1<<40, 1<<40
	out.NameLen = 255
	return 0
}
