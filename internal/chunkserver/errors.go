package chunkserver

import (
	"errors"
	"fmt"
	"syscall"
)

// Sentinel errors. Every error of this package wraps one of them (or
// fencing.ErrStaleToken) and names the chunk, the chunkserver or the
// directory at fault.
var (
	// ErrNotFound: this chunkserver holds no replica of the chunk.
	ErrNotFound = errors.New("chunkserver: no such chunk")
	// ErrExists: a create of a chunk already held at another version.
	ErrExists = errors.New("chunkserver: chunk exists")
	// ErrVersion: the replica's version is not the one the request names
	// (a stale replica, or a stale request).
	ErrVersion = errors.New("chunkserver: version mismatch")
	// ErrCorrupt: a block failed its CRC-32C checksum; the replica is not
	// served and is quarantined.
	ErrCorrupt = errors.New("chunkserver: checksum mismatch")
	// ErrNoSpace: the disk is full; nothing already stored was changed.
	ErrNoSpace = errors.New("chunkserver: no space left on device")
	// ErrTooLarge: a write beyond the chunk's maximum size.
	ErrTooLarge = errors.New("chunkserver: write beyond the chunk size")
	// ErrBadWrite: a write that leaves a hole or carries more or fewer bytes
	// than it announced.
	ErrBadWrite = errors.New("chunkserver: bad write")
	// ErrNoLease: a write to a chunkserver that holds no valid lease for the
	// chunk (the client must ask the master for the lease again).
	ErrNoLease = errors.New("chunkserver: no lease")
	// ErrDirInUse: another chunkserver process holds the directory, or the
	// directory belongs to another chunkserver id.
	ErrDirInUse = errors.New("chunkserver: directory in use")
	// ErrBadDir: the directory cannot be used (not writable, bad files).
	ErrBadDir = errors.New("chunkserver: bad directory")
)

// diskError wraps err with ErrNoSpace when it is ENOSPC or EDQUOT.
func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w; free space on the chunkserver's disk: %w", err, ErrNoSpace)
	}
	return err
}
