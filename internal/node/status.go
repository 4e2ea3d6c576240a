package node

import (
	"context"
	"encoding/json"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// publishStatus keeps this member's status key current in etcd, attached to
// the session's lease so that it disappears with the member.
func (n *Node) publishStatus(ctx context.Context) {
	tick := time.NewTicker(n.cfg.StatusInterval)
	defer tick.Stop()
	var last []byte
	var lastLease clientv3.LeaseID
	lastPut := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.statusKick:
		}
		n.mu.Lock()
		s := n.session
		n.mu.Unlock()
		if s == nil {
			continue
		}
		st := n.Status()
		b, _ := json.Marshal(st)
		if string(b) == string(last) && s.LeaseID() == lastLease && time.Since(lastPut) < 5*time.Second {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := n.cfg.Client.Put(pctx, n.cfg.Keys.Member(n.cfg.NodeID), string(b), clientv3.WithLease(s.LeaseID()))
		cancel()
		if err != nil {
			n.log.Debug("publish status", "err", err)
			continue
		}
		last, lastLease, lastPut = b, s.LeaseID(), time.Now()
	}
}
