package election

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Observe sends the current leader under prefix (a zero Leader when there is
// none) every time it changes, until ctx ends; then it closes the channel.
// It follows the election through a watch, re-reading the oldest key on
// every change, and retries with a bounded backoff while etcd is unreachable.
func Observe(ctx context.Context, c *clientv3.Client, prefix string) <-chan Leader {
	return ObserveReporting(ctx, c, prefix, nil)
}

// readBound bounds one read of the election: etcd's client waits for a
// connection rather than fail, so without it an unreachable etcd would
// leave the observer silent for good.
const readBound = 5 * time.Second

// ObserveReporting is Observe that also calls report, if not nil, from its
// goroutine: with each failed read of the election and the wait before the
// next try, and with (nil, 0) on the first read that succeeds after
// failures. report must return quickly.
func ObserveReporting(ctx context.Context, c *clientv3.Client, prefix string, report func(err error, retryIn time.Duration)) <-chan Leader {
	if report == nil {
		report = func(error, time.Duration) {}
	}
	ch := make(chan Leader, 1)
	go func() {
		defer close(ch)
		var last Leader
		first := true
		backoff := 50 * time.Millisecond
		failing := false
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, readBound)
			l, rev, err := currentLeader(rctx, c, prefix)
			cancel()
			if err != nil && !errors.Is(err, ErrNoLeader) {
				if ctx.Err() != nil {
					return
				}
				failing = true
				report(err, backoff)
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			if failing {
				failing = false
				report(nil, 0)
			}
			if first || l.Key != last.Key || l.Token != last.Token || string(l.Value) != string(last.Value) {
				// Keep only the newest value: drop a stale one nobody read.
				select {
				case <-ch:
				default:
				}
				select {
				case ch <- l:
				case <-ctx.Done():
					return
				}
				last, first = l, false
			}
			wctx, cancel := context.WithCancel(ctx)
			wch := c.Watch(clientv3.WithRequireLeader(wctx), prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
			for wr := range wch {
				if wr.Err() != nil || len(wr.Events) > 0 {
					break
				}
			}
			cancel()
		}
	}()
	return ch
}
