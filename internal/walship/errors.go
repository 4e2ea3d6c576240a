package walship

import "errors"

// Sentinel errors.
var (
	// ErrDeposed: the fenced transaction failed its compare; this writer no
	// longer leads (or its view of the head is stale). Nothing was written.
	ErrDeposed = errors.New("walship: deposed: fenced append rejected by etcd")
	// ErrUnknownOutcome: the transaction's fate is unknown; the record may or
	// may not be in the log.
	ErrUnknownOutcome = errors.New("walship: append outcome unknown")
	// ErrStopped: the appender stopped before this record was sent; it was
	// not written.
	ErrStopped = errors.New("walship: appender stopped")
	// ErrBusy: the append queue stayed full for the appender's QueueWait;
	// the record was not written. Retry later, with backoff.
	ErrBusy = errors.New("walship: append queue full")
	// ErrAbandoned: the caller left before its record was sent; it was not
	// written and never will be.
	ErrAbandoned = errors.New("walship: append abandoned")
	// ErrTooLarge: a record that can never fit in one etcd request.
	ErrTooLarge = errors.New("walship: record too large")
	// ErrCorrupt: a batch failed its checksum or structure check.
	ErrCorrupt = errors.New("walship: corrupt log")
	// ErrGap: the log skips an index.
	ErrGap = errors.New("walship: gap in log")
	// ErrTrimmed: the records this reader needs next were trimmed from the
	// log (below a checkpoint); it must load a newer checkpoint first.
	ErrTrimmed = errors.New("walship: log trimmed below the next index")
	// ErrTokenRegression: a record carries a lower token than one before it.
	ErrTokenRegression = errors.New("walship: token went backwards")
)
