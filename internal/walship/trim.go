package walship

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Trim deletes every record at or below upTo that can go without splitting
// a batch, in one transaction guarded by guard (the primary's fence), and
// records the first index kept. It returns that index and the revision of
// the transaction (to compact etcd's history at; 0 when nothing was
// deleted). Trimming is idempotent and never removes a record above upTo.
// When nothing at or below upTo is left (upTo is below the log's start, as
// after a failover to a member that never trimmed), it returns the log's
// first index as it stands: never 0, so a caller's first-1 cannot wrap.
func Trim(ctx context.Context, c *clientv3.Client, keys Keys, guard clientv3.Cmp, upTo uint64) (firstKept uint64, rev int64, err error) {
	head, err := ReadHead(ctx, c, keys)
	if err != nil {
		return 0, 0, err
	}
	if upTo >= head {
		firstKept = head + 1
	} else {
		// The batch holding upTo+1 stays, whole.
		r, err := c.Get(ctx, keys.BatchPrefix(), clientv3.WithRange(keys.Batch(upTo+2)),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1), clientv3.WithKeysOnly())
		if err != nil {
			return 0, 0, fmt.Errorf("walship: trim: %w", err)
		}
		if len(r.Kvs) == 0 {
			// Nothing at or below upTo: already trimmed further.
			first, err := ReadFirst(ctx, c, keys)
			return first, 0, err
		}
		var k uint64
		if _, err := fmt.Sscanf(string(r.Kvs[0].Key), keys.BatchPrefix()+"%d", &k); err != nil {
			return 0, 0, fmt.Errorf("walship: trim: batch key %q: %w", r.Kvs[0].Key, ErrCorrupt)
		}
		firstKept = k
	}
	if firstKept <= 1 {
		return 1, 0, nil
	}
	resp, err := c.Txn(ctx).If(guard).Then(
		clientv3.OpDelete(keys.BatchPrefix(), clientv3.WithRange(keys.Batch(firstKept))),
		clientv3.OpPut(keys.First(), formatIndex(firstKept)),
	).Commit()
	if err != nil {
		return 0, 0, fmt.Errorf("walship: trim below %d: %w", firstKept, err)
	}
	if !resp.Succeeded {
		return 0, 0, fmt.Errorf("walship: trim below %d: %w", firstKept, ErrDeposed)
	}
	return firstKept, resp.Header.Revision, nil
}

// ReadFirst returns the first index still in the log (1 if never trimmed).
func ReadFirst(ctx context.Context, c *clientv3.Client, keys Keys) (uint64, error) {
	r, err := c.Get(ctx, keys.First())
	if err != nil {
		return 0, fmt.Errorf("walship: read log start: %w", err)
	}
	if len(r.Kvs) == 0 {
		return 1, nil
	}
	return parseIndex(r.Kvs[0].Value)
}
