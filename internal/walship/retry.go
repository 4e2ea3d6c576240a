package walship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// txnFunc sends one attempt of a batch's transaction. Tests wrap it to lose
// answers or fail attempts.
type txnFunc func(ctx context.Context) (*clientv3.TxnResponse, error)

// sendBatch commits the batch whose transaction is send, retrying in place
// while etcd fails with a retriable error (leader changed, no leader, one
// attempt's short deadline), until the commit timeout. Every attempt is the
// same transaction: its compares (the fence, the head, the free batch key)
// make a second success impossible, so the batch is written at most once.
//
// After an attempt whose fate is unknown, a failed compare may mean that
// the earlier attempt committed (the head moved past it): the batch key is
// then read back, and the batch counts as committed exactly when the key
// holds these bytes. A batch in the log is never reported as deposed.
//
// It returns nil (committed), an error wrapping ErrDeposed (not written),
// or one wrapping ErrUnknownOutcome (maybe written).
func (a *Appender) sendBatch(ctx context.Context, send txnFunc, batchKey string, buf []byte) error {
	total := a.cfg.CommitTimeout
	per := max(total/10, 50*time.Millisecond)
	deadline := time.Now().Add(total)
	var lastErr error
	unknown := false // an earlier attempt may have committed
	backoff := 10 * time.Millisecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w: no definite answer within %v: %v", ErrUnknownOutcome, total, lastErr)
		}
		tctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), min(per, left))
		resp, err := send(tctx)
		cancel()
		switch {
		case err == nil && resp.Succeeded:
			return nil
		case err == nil && !unknown:
			return ErrDeposed
		case err == nil:
			return a.settle(ctx, deadline, batchKey, buf)
		case !retriable(err):
			// A refusal no retry can change (too large, no space, no
			// permission); reported as unknown, as before this retry
			// loop, since an earlier attempt may have committed.
			return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		lastErr, unknown = err, true
		t := time.NewTimer(min(backoff, time.Until(deadline)))
		<-t.C
		// Short: a no-leader answer is cheap, and the retry that follows
		// etcd's election closely is the one that ends the stall.
		backoff = min(2*backoff, per, 50*time.Millisecond)
	}
}

// settle finds out whether a batch whose attempt had an unknown fate is in
// the log, by a linearizable read of its key, retried until deadline.
func (a *Appender) settle(ctx context.Context, deadline time.Time, batchKey string, buf []byte) error {
	per := max(a.cfg.CommitTimeout/10, 50*time.Millisecond)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w: could not read back %s after an attempt of unknown fate", ErrUnknownOutcome, batchKey)
		}
		rctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), min(per, left))
		r, err := a.cfg.Client.Get(rctx, batchKey)
		cancel()
		if err == nil {
			if len(r.Kvs) == 1 && bytes.Equal(r.Kvs[0].Value, buf) {
				return nil // an earlier attempt committed: same bytes, same index, token and checksum
			}
			return ErrDeposed
		}
		if !retriable(err) {
			return fmt.Errorf("%w: read back %s: %v", ErrUnknownOutcome, batchKey, err)
		}
		t := time.NewTimer(min(20*time.Millisecond, left))
		<-t.C
	}
}

// retriable reports whether err leaves the request's fate open and a retry
// may get a definite answer: a lost or changed etcd leader, an attempt's
// deadline, a broken connection.
func retriable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if s, ok := status.FromError(err); ok {
		code = s.Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}
