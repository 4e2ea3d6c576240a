package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
)

// Errors of Remove.
var (
	// ErrUnknownMember: no member of that name ever ran (or it was removed).
	ErrUnknownMember = errors.New("ctl: unknown member")
	// ErrMemberAlive: the member still has a session; stop it first.
	ErrMemberAlive = errors.New("ctl: member is running")
)

// downMembers returns the registry's members that have no live status
// record: they ran before and are gone. Each is listed with role down and
// when it last refreshed its entry.
func downMembers(ctx context.Context, c *clientv3.Client, keys cluster.Keys, live []cluster.MemberStatus) ([]cluster.MemberStatus, error) {
	resp, err := c.Get(ctx, keys.Known(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read known members from etcd: %w", err)
	}
	alive := map[string]bool{}
	for _, m := range live {
		alive[m.NodeID] = true
	}
	var out []cluster.MemberStatus
	for _, kv := range resp.Kvs {
		rec, err := cluster.DecodeKnownRecord(kv.Value)
		if err != nil {
			return nil, err
		}
		if alive[rec.NodeID] {
			continue
		}
		seen, tags := rec.LastSeen, rec.Tags
		out = append(out, cluster.MemberStatus{NodeID: rec.NodeID, Role: cluster.RoleDown, Address: rec.Address,
			HTTPAddress: rec.HTTPAddress, LastSeen: &seen, Tags: &tags})
	}
	return out, nil
}

// Remove forgets a down member, so `ctl status` stops listing it. A member
// that still has a session is refused (it would register itself again).
func Remove(ctx context.Context, c *clientv3.Client, name, nodeID string) error {
	keys := cluster.ForCluster(name)
	if nodeID == "" || strings.Contains(nodeID, "/") {
		return fmt.Errorf("%w: %q is not a member name", ErrUnknownMember, nodeID)
	}
	resp, err := c.Txn(ctx).If(
		clientv3.Compare(clientv3.CreateRevision(keys.Member(nodeID)), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(keys.KnownMember(nodeID)), ">", 0),
	).Then(clientv3.OpDelete(keys.KnownMember(nodeID))).
		Else(clientv3.OpGet(keys.Member(nodeID)), clientv3.OpGet(keys.KnownMember(nodeID))).Commit()
	if err != nil {
		return fmt.Errorf("remove %s: etcd: %w", nodeID, err)
	}
	if resp.Succeeded {
		return nil
	}
	if len(resp.Responses[0].GetResponseRange().Kvs) > 0 {
		return fmt.Errorf("%w: %s is still running (it has a live session); stop it first, then remove it", ErrMemberAlive, nodeID)
	}
	return fmt.Errorf("%w: no member %s in cluster %s (see ctl status)", ErrUnknownMember, nodeID, name)
}
