package walship

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/embedetcd"
)

// TestAppendRetriesInPlace: an append whose etcd request fails with a
// retriable error is retried with the same transaction, and its outcome is
// settled by reading the batch key back; the appender never steps down
// for a batch that is in the log.
func TestAppendRetriesInPlace(t *testing.T) {
	errLost := fmt.Errorf("answer lost: %w", context.DeadlineExceeded)
	tests := []struct {
		name string
		// wrap decides attempt i's fate: send it or not, then lose the
		// answer or not.
		wrap    func(i int, send txnFunc, ctx context.Context) (*clientv3.TxnResponse, error)
		deposed bool // after the first attempt, the leader key is deleted
		want    error
	}{
		{"answer lost after commit", func(i int, send txnFunc, ctx context.Context) (*clientv3.TxnResponse, error) {
			r, err := send(ctx)
			if i == 0 && err == nil {
				return nil, errLost
			}
			return r, err
		}, false, nil},
		{"no leader twice", func(i int, send txnFunc, ctx context.Context) (*clientv3.TxnResponse, error) {
			if i < 2 {
				return nil, rpctypes.ErrNoLeader
			}
			return send(ctx)
		}, false, nil},
		{"leader changed, then committed", func(i int, send txnFunc, ctx context.Context) (*clientv3.TxnResponse, error) {
			if i == 0 {
				return nil, rpctypes.ErrLeaderChanged
			}
			return send(ctx)
		}, false, nil},
		{"unknown, then deposed", func(i int, send txnFunc, ctx context.Context) (*clientv3.TxnResponse, error) {
			if i == 0 {
				return nil, errLost // never sent
			}
			return send(ctx)
		}, true, ErrDeposed},
		{"no answer within the commit timeout", func(int, txnFunc, context.Context) (*clientv3.TxnResponse, error) {
			return nil, rpctypes.ErrNoLeader
		}, false, ErrUnknownOutcome},
	}
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Delete(t.Context(), keys.Prefix, clientv3.WithPrefix()); err != nil {
				t.Fatal(err)
			}
			l := lead(t, c)
			sm := &recorder{}
			var attempts atomic.Int64
			a := newAppender(t, c, l, sm, func(cfg *AppenderConfig) {
				cfg.CommitTimeout = 2 * time.Second
				cfg.wrapTxn = func(send txnFunc) txnFunc {
					return func(ctx context.Context) (*clientv3.TxnResponse, error) {
						i := int(attempts.Add(1) - 1)
						if tc.deposed && i == 1 {
							if _, err := c.Delete(ctx, l.Key()); err != nil {
								t.Errorf("delete leader key: %v", err)
							}
						}
						return tc.wrap(i, send, ctx)
					}
				}
			})
			defer l.Release()
			_, err := a.Append(t.Context(), []byte("x"))
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Append = %v after %d attempts; want committed", err, attempts.Load())
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Append = %v after %d attempts; want %v", err, attempts.Load(), tc.want)
			case errors.Is(err, ErrDeposed) && errors.Is(err, ErrUnknownOutcome):
				t.Fatalf("Append = %v; deposed and unknown at once", err)
			}
			head, herr := ReadHead(t.Context(), c, keys)
			if herr != nil {
				t.Fatal(herr)
			}
			inLog := head == 1
			if tc.want == nil && (!inLog || sm.AppliedIndex() != 1) {
				t.Errorf("head %d, applied %d; want the record in the log and applied once", head, sm.AppliedIndex())
			}
			if errors.Is(err, ErrDeposed) && inLog {
				t.Errorf("reported deposed but the batch is in the log (head %d)", head)
			}
		})
	}
}
