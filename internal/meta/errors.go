package meta

import "errors"

// Sentinel errors. Every error this package returns wraps exactly one of them
// with %w and names the path, handle or value at fault, for example
// "create /a/b: path already exists: meta: exists". Test with errors.Is.
var (
	// ErrNotFound: the path, or one of its parent directories, does not exist.
	ErrNotFound = errors.New("meta: not found")
	// ErrExists: the path to create, or the rename destination, already exists.
	ErrExists = errors.New("meta: exists")
	// ErrNotEmpty: delete of a directory that still has entries.
	ErrNotEmpty = errors.New("meta: directory not empty")
	// ErrInvalidPath: a path that fails ValidatePath, or delete of "/".
	ErrInvalidPath = errors.New("meta: invalid path")
	// ErrNotDir: a path element that must be a directory is a file.
	ErrNotDir = errors.New("meta: not a directory")
	// ErrIsDir: a file operation (add chunk, set size) on a directory.
	ErrIsDir = errors.New("meta: is a directory")
	// ErrInvalidMove: rename of "/", or of a path into its own subtree.
	ErrInvalidMove = errors.New("meta: invalid rename")
	// ErrBadOp: an op that cannot be decoded, has an unknown type, a negative
	// size or an over-long client id.
	ErrBadOp = errors.New("meta: malformed op")
	// ErrIndex: Apply with an index other than AppliedIndex()+1.
	ErrIndex = errors.New("meta: out-of-order index")
	// ErrBadChunk: an unknown chunk handle, a version that does not go up, or
	// an exhausted handle space.
	ErrBadChunk = errors.New("meta: bad chunk")
	// ErrStale: a retried op whose Seq is below the last one applied for its
	// ClientID; the state no longer remembers its result.
	ErrStale = errors.New("meta: stale request sequence")
	// ErrCorrupt: Restore found a snapshot that is truncated, fails its
	// checksum or breaks the state's invariants.
	ErrCorrupt = errors.New("meta: corrupt snapshot")
	// ErrSessionExpired: an op names a session the state does not hold
	// (expired, evicted or never registered). The op was not run; if it is a
	// retry, whether its first attempt ran is unknown.
	ErrSessionExpired = errors.New("meta: session unknown or expired")
)

// sentinels fixes a numeric code for each sentinel (its position plus one;
// 0 is "no error"). The dedup table stores results by code, and codes are part
// of the snapshot format and the digest: append only, never reorder.
var sentinels = [...]error{
	ErrNotFound,
	ErrExists,
	ErrNotEmpty,
	ErrInvalidPath,
	ErrNotDir,
	ErrIsDir,
	ErrInvalidMove,
	ErrBadOp,
	ErrIndex,
	ErrBadChunk,
	ErrStale,
	ErrCorrupt,
	ErrSessionExpired,
}

// errCode returns the code of the sentinel err wraps, 0 for nil. An error
// that wraps none of them (a bug) is recorded as ErrBadOp, so that the code
// is still the same on every replica.
func errCode(err error) uint8 {
	if err == nil {
		return 0
	}
	for i, s := range sentinels {
		if errors.Is(err, s) {
			return uint8(i + 1)
		}
	}
	return errCode(ErrBadOp)
}

// recordedError is an error as the dedup table keeps it: the original message
// and the sentinel it wrapped. It reads and matches (errors.Is) like the
// error Apply returned the first time.
type recordedError struct {
	msg string
	err error
}

func (e *recordedError) Error() string { return e.msg }
func (e *recordedError) Unwrap() error { return e.err }

// recordError turns an error code and message back into an error; code must
// be valid (1..len(sentinels)).
func recordError(code uint8, msg string) error {
	if code == 0 {
		return nil
	}
	return &recordedError{msg: msg, err: sentinels[code-1]}
}
