package chunkserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dirLock is the exclusive flock on DIR/LOCK held while a chunkserver runs,
// and the DIR/ID file that ties the directory to one chunkserver id.
type dirLock struct{ f *os.File }

// lockDir takes dir for chunkserver id. A second process on the same
// directory fails with an error naming the directory and the holder; a
// directory that belongs to another id fails too (its replicas and its
// token guard are that chunkserver's).
func lockDir(dir, id string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chunkserver %s: --dir %s: %v: %w", id, dir, err, ErrBadDir)
	}
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("chunkserver %s: --dir %s: %v: %w", id, dir, err, ErrBadDir)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("chunkserver %s: --dir %s is in use by %s; give each chunkserver its own directory: %w",
				id, dir, describeHolder(holder), ErrDirInUse)
		}
		return nil, fmt.Errorf("chunkserver %s: lock %s: %v: %w", id, path, err, ErrBadDir)
	}
	l := &dirLock{f: f}
	idPath := filepath.Join(dir, "ID")
	owner, err := os.ReadFile(idPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := writeFileSync(idPath, []byte(id+"\n")); err != nil {
			l.release()
			return nil, fmt.Errorf("chunkserver %s: --dir %s: %v: %w", id, dir, err, ErrBadDir)
		}
	case err != nil:
		l.release()
		return nil, fmt.Errorf("chunkserver %s: --dir %s: %v: %w", id, dir, err, ErrBadDir)
	case strings.TrimSpace(string(owner)) != id:
		l.release()
		return nil, fmt.Errorf("chunkserver %s: --dir %s belongs to chunkserver %s (see %s); start %s with it, or give %s another directory: %w",
			id, dir, strings.TrimSpace(string(owner)), idPath, strings.TrimSpace(string(owner)), id, ErrDirInUse)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(id+" pid "+strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return l, nil
}

func describeHolder(b []byte) string {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return "another chunkserver"
	}
	return "chunkserver " + s
}

// release drops the lock. Safe to call twice.
func (l *dirLock) release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Close() // closing the descriptor releases the flock
	l.f = nil
}

// writeFileSync writes path atomically: a temporary file, fsynced, renamed
// over path, and the directory fsynced.
func writeFileSync(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return diskError(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return diskError(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return diskError(err)
	}
	if err := tmp.Close(); err != nil {
		return diskError(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
