package incarnation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
)

// ErrLocked reports that another process holds the data directory.
var ErrLocked = errors.New("incarnation: data directory in use")

// File names inside the data directory.
const (
	LockFile   = "LOCK"
	RecordFile = "incarnation.json"
)

// record is incarnation.json.
type record struct {
	// Leases are the etcd leases (decimal IDs) of sessions this data
	// directory's master opened and has not yet seen revoked.
	Leases []int64 `json:"leases"`
}

// Dir is a locked data directory. Its methods are safe for concurrent use.
type Dir struct {
	path string
	lock *os.File

	mu       sync.Mutex // guards previous, current and closed; serializes writes
	previous []int64    // leases of dead incarnations, not yet revoked
	current  []int64    // leases of this incarnation
	closed   bool
}

// Lock creates dir if needed, locks it and reads the leases that earlier
// incarnations recorded. It fails with ErrLocked (naming the directory and
// the way out) when another process holds the lock.
func Lock(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	lp := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(lp, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data_dir %s is locked by another running master (%s); stop that process, or give this one its own --data-dir: %w", dir, lp, ErrLocked)
		}
		return nil, fmt.Errorf("data_dir %s: lock %s: %w", dir, lp, err)
	}
	d := &Dir{path: dir, lock: f}
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		d.Close()
		return nil, fmt.Errorf("data_dir %s: %w", dir, err)
	default:
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			// A torn write of a file we fsync before renaming cannot
			// happen; an edited one is not worth refusing to start for:
			// the leases it named expire on their own.
			break
		}
		d.previous = r.Leases
	}
	// Keep the pid in LOCK for the operator (informational only).
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return d, nil
}

// Path is the data directory.
func (d *Dir) Path() string { return d.path }

// Previous returns the leases of dead incarnations not yet forgotten.
func (d *Dir) Previous() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.previous)
}

// Leases returns every recorded lease: dead incarnations' and this one's.
func (d *Dir) Leases() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append(slices.Clone(d.previous), d.current...)
}

// Mine reports whether lease was opened by this incarnation or by a dead
// earlier one (recorded in this locked directory).
func (d *Dir) Mine(lease int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.previous, lease) || slices.Contains(d.current, lease)
}

// Record adds lease to the file, durably, before the caller uses it.
func (d *Dir) Record(lease int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.current, lease) {
		d.current = append(d.current, lease)
	}
	return d.writeLocked()
}

// Forget removes leases known to be gone (revoked or expired) from the file.
func (d *Dir) Forget(leases ...int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	drop := func(l int64) bool { return slices.Contains(leases, l) }
	d.previous = slices.DeleteFunc(d.previous, drop)
	d.current = slices.DeleteFunc(d.current, drop)
	return d.writeLocked()
}

// writeLocked writes the file by write, fsync, rename and directory fsync.
func (d *Dir) writeLocked() error {
	if d.closed {
		return fmt.Errorf("data_dir %s: closed", d.path)
	}
	b, _ := json.Marshal(record{Leases: append(slices.Clone(d.previous), d.current...)})
	tmp := filepath.Join(d.path, RecordFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("record incarnation: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(d.path, RecordFile))
	}
	if err == nil {
		var df *os.File
		if df, err = os.Open(d.path); err == nil {
			err = df.Sync()
			df.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("record incarnation in %s: %w", d.path, err)
	}
	return nil
}

// Close releases the lock. It is safe to call twice.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.lock.Close() // closing the descriptor drops the flock
}
