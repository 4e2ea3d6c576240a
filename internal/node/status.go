package node

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// statusPub remembers what was last published, so unchanged status is not
// rewritten more often than every few seconds.
type statusPub struct {
	mu    sync.Mutex // guards the fields below and serializes puts
	last  []byte
	lease clientv3.LeaseID
	at    time.Time
	// knownAt is when the registry entry (cluster.Keys.KnownMember) was
	// last refreshed.
	knownAt time.Time
}

// publishStatus keeps this member's status key current in etcd, attached to
// the session's lease so that it disappears with the member.
func (n *Node) publishStatus(ctx context.Context) {
	tick := time.NewTicker(n.cfg.StatusInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.statusKick:
		}
		if err := n.publishOnce(ctx, false); err != nil {
			n.log.Debug("publish status", "err", err)
		}
	}
}

// publishOnce writes the status now if it changed (or always, with force).
func (n *Node) publishOnce(ctx context.Context, force bool) error {
	n.mu.Lock()
	s := n.session
	n.mu.Unlock()
	if s == nil {
		return nil
	}
	b, _ := json.Marshal(n.Status())
	p := &n.pub
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && string(b) == string(p.last) && s.LeaseID() == p.lease && time.Since(p.at) < 5*time.Second {
		kctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return n.touchKnownLocked(kctx)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// Only while this session holds the member key (claimMember), or
	// nobody does: never over a twin's.
	key := n.cfg.Keys.Member(n.cfg.NodeID)
	put := clientv3.OpPut(key, string(b), clientv3.WithLease(s.LeaseID()))
	if _, err := n.cfg.Client.Txn(pctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", s.LeaseID())).Then(put).
		Else(clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.LeaseValue(key), "=", 0)}, []clientv3.Op{put}, nil)).
		Commit(); err != nil {
		return err
	}
	p.last, p.lease, p.at = b, s.LeaseID(), time.Now()
	return n.touchKnownLocked(pctx)
}
