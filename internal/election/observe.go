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
	ch := make(chan Leader, 1)
	go func() {
		defer close(ch)
		var last Leader
		first := true
		backoff := 50 * time.Millisecond
		for ctx.Err() == nil {
			l, rev, err := currentLeader(ctx, c, prefix)
			if err != nil && !errors.Is(err, ErrNoLeader) {
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
