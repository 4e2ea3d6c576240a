package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
)

// ErrDuplicateMember: another live process runs with this node_id.
var ErrDuplicateMember = errors.New("master: node_id already live")

// DuplicateMemberError names the live member that holds this node_id.
type DuplicateMemberError struct {
	NodeID      string
	Address     string
	HTTPAddress string
	Role        string
	Lease       string // hex, as etcdctl prints it
	TTL         time.Duration
}

func (e *DuplicateMemberError) Error() string {
	return fmt.Sprintf("node_id %s is already live at %s (http %s, role %s, lease %s); nothing written. "+
		"Give this master its own --node-id, or stop that process first; if it is gone, its lease expires within %v "+
		"(or end it now: master ctl failover --from %s, or etcdctl lease revoke %s)",
		e.NodeID, e.Address, e.HTTPAddress, e.Role, e.Lease, e.TTL, e.NodeID, e.Lease)
}

// Unwrap makes errors.Is(err, ErrDuplicateMember) hold.
func (e *DuplicateMemberError) Unwrap() error { return ErrDuplicateMember }

// claimMember makes this session the holder of the member key. The
// transaction succeeds only while no lease holds the key (a key without a
// lease, or no key, compares as lease 0); a key held by a lease of this
// process or of a dead incarnation of its data dir is released by revoking
// that lease; any other holder is a live twin, and nothing is written.
func (n *Node) claimMember(ctx context.Context, s *election.Session) error {
	key := n.cfg.Keys.Member(n.cfg.NodeID)
	st := cluster.MemberStatus{NodeID: n.cfg.NodeID, Role: cluster.RoleStandby, Address: n.cfg.Address,
		HTTPAddress: n.cfg.HTTPAddress, LeaseID: s.LeaseIDHex(), AppliedIndex: n.state.AppliedIndex()}
	b, _ := json.Marshal(st)
	c := n.cfg.Client
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, n.cfg.CommitTimeoutOrDefault())
		r, err := c.Txn(cctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", 0)).
			Then(clientv3.OpPut(key, string(b), clientv3.WithLease(s.LeaseID()))).
			Else(clientv3.OpGet(key)).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("claim member key %s: %w", key, err)
		}
		if r.Succeeded {
			return nil
		}
		kvs := r.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			continue
		}
		holder := clientv3.LeaseID(kvs[0].Lease)
		if holder == s.LeaseID() {
			return nil
		}
		if n.ownLease(holder) && attempt < 3 {
			// Ours: a session of this process whose revoke failed, or a dead
			// incarnation's (the data dir lock proves it dead).
			rctx, cancel := context.WithTimeout(ctx, n.cfg.CommitTimeoutOrDefault())
			_, err := c.Revoke(rctx, holder)
			cancel()
			if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return fmt.Errorf("revoke this node's earlier lease %016x: %w", int64(holder), err)
			}
			continue
		}
		var other cluster.MemberStatus
		json.Unmarshal(kvs[0].Value, &other)
		e := &DuplicateMemberError{NodeID: n.cfg.NodeID, Address: other.Address, HTTPAddress: other.HTTPAddress,
			Role: other.Role, Lease: fmt.Sprintf("%016x", int64(holder)), TTL: n.cfg.LeaseTTL}
		tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if ttl, err := c.TimeToLive(tctx, holder); err == nil && ttl.GrantedTTL > 0 {
			e.TTL = time.Duration(ttl.TTL) * time.Second
		}
		cancel()
		return e
	}
}

// ownLease reports whether lease belongs to this process (an earlier
// session) or to a dead incarnation recorded in the locked data dir.
func (n *Node) ownLease(lease clientv3.LeaseID) bool {
	n.mu.Lock()
	_, mine := n.pastLeases[lease]
	n.mu.Unlock()
	return mine || (n.inc != nil && n.inc.Mine(int64(lease)))
}

// forgetLease drops a lease known revoked from this process's and the data
// dir's records.
func (n *Node) forgetLease(lease clientv3.LeaseID) {
	n.mu.Lock()
	delete(n.pastLeases, lease)
	n.mu.Unlock()
	if n.inc != nil {
		if err := n.inc.Forget(int64(lease)); err != nil {
			n.log.Debug("forget revoked lease", "err", err)
		}
	}
}
