package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
)

// ErrNoMasters: no master of the named cluster is registered in etcd (a
// misspelt --cluster, or every master is stopped).
var ErrNoMasters = errors.New("ctl: no masters registered")

// noMasters names the cluster and the etcd endpoints looked at.
type noMasters struct {
	cluster   string
	endpoints []string
}

func (e noMasters) Error() string {
	return fmt.Sprintf("no masters registered for cluster %s at %s (check --cluster and --etcd-endpoints; `master serve` registers a master)",
		e.cluster, strings.Join(e.endpoints, ","))
}

func (e noMasters) Is(target error) bool { return target == ErrNoMasters }

// RequireMasters returns an error wrapping ErrNoMasters, at once, when no
// master of cluster name is registered (no member record and no candidate
// in the election). endpoints only name where it looked, in the message.
func RequireMasters(ctx context.Context, c *clientv3.Client, name string, endpoints []string) error {
	keys := cluster.ForCluster(name)
	r, err := c.Txn(ctx).Then(
		clientv3.OpGet(keys.Members(), clientv3.WithPrefix(), clientv3.WithCountOnly()),
		clientv3.OpGet(keys.Election()+"/", clientv3.WithPrefix(), clientv3.WithCountOnly()),
	).Commit()
	if err != nil {
		return fmt.Errorf("read the members of cluster %s: %w", name, err)
	}
	for _, op := range r.Responses {
		if op.GetResponseRange().Count > 0 {
			return nil
		}
	}
	return noMasters{cluster: name, endpoints: endpoints}
}

// mastersRegistered is the comparison that holds while some master of the
// cluster is registered: operator writes are made under it, so none is
// written for a cluster that does not exist.
func mastersRegistered(keys cluster.Keys) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(keys.Members()), ">", 0).WithPrefix()
}
