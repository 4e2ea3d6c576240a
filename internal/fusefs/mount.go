package fusefs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/gfsha/master/client"
)

// Options configures a mount.
type Options struct {
	// Timeout bounds one metadata call (default 60 s: longer than a
	// failover after a crash, so a stat waits through one).
	Timeout time.Duration
	// Debug logs every FUSE request.
	Debug bool
	// Log receives the failures programs see only as an errno (EIO); nil
	// for none.
	Log *log.Logger
}

// Mount serves the namespace of c's master group at dir.
type Mount struct {
	dir    string
	server *fuse.Server
	stop   context.CancelFunc

	once sync.Once
	err  error
}

// ErrUnreachable is returned by New when the master group does not answer.
var ErrUnreachable = errors.New("fusefs: cluster unreachable")

// New mounts the namespace of c's master group at dir. It first checks
// that the group answers (a stat of "/" within probe), so that a mount of
// an unreachable cluster fails at once with an error wrapping
// ErrUnreachable instead of hanging every program that touches dir.
func New(ctx context.Context, c *client.Client, dir string, probe time.Duration, opts Options) (*Mount, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("mount %s: not a directory; give an empty directory to mount on", dir)
	}
	pctx, cancel := context.WithTimeout(ctx, probe)
	_, err := c.Stat(pctx, "/")
	cancel()
	if err != nil {
		return nil, &unreachableError{fmt.Sprintf("mount %s: cluster %q did not answer within %v (%v); check etcd.endpoints and that a master of the cluster runs",
			dir, c.Cluster(), probe, err)}
	}
	mctx, stop := context.WithCancel(context.Background())
	fsys := &FS{c: c, ctx: mctx, uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), timeout: opts.Timeout, log: opts.Log,
		pending: map[string]*client.Writer{}, opened: map[string]*writeHandle{}}
	zero, entry := time.Duration(0), time.Second
	server, err := fs.Mount(dir, &node{fsys: fsys}, &fs.Options{
		EntryTimeout:    &entry,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		UID:             fsys.uid,
		GID:             fsys.gid,
		MountOptions: fuse.MountOptions{
			FsName:       "gfsha:" + c.Cluster(),
			Name:         "gfsha",
			MaxWrite:     1 << 20,
			MaxReadAhead: 1 << 20,
			Debug:        opts.Debug,
		},
	})
	if err != nil {
		stop()
		hint := ""
		if _, lerr := exec.LookPath("fusermount3"); lerr != nil {
			hint = " (fusermount3 is missing: install Debian's fuse3)"
		}
		return nil, fmt.Errorf("mount %s: %v%s", dir, err, hint)
	}
	return &Mount{dir: dir, server: server, stop: stop}, nil
}

// unreachableError is one line for the person who mounts; it wraps
// ErrUnreachable for code.
type unreachableError struct{ msg string }

func (e *unreachableError) Error() string { return e.msg }
func (e *unreachableError) Unwrap() error { return ErrUnreachable }

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// Wait blocks until the file system is unmounted (by Unmount or by
// `fusermount3 -u`).
func (m *Mount) Wait() { m.server.Wait() }

// Unmount unmounts the file system and ends its pending reads and writes.
// When the mount is busy (a process has a file open in it), it detaches it
// lazily (fusermount3 -u -z): the mount point is free at once, the last
// user's close ends it. Safe to call twice.
func (m *Mount) Unmount() error {
	m.once.Do(func() {
		err := m.server.Unmount()
		if err != nil {
			if out, zerr := exec.Command("fusermount3", "-u", "-z", m.dir).CombinedOutput(); zerr != nil {
				m.err = fmt.Errorf("unmount %s: %v; lazy unmount: %v: %s", m.dir, err, zerr, out)
			}
		}
		m.stop()
		done := make(chan struct{})
		go func() { m.server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second): // lazily detached: ends with its last user
		}
	})
	return m.err
}
