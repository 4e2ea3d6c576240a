package ctl

import (
	"context"
	"fmt"
	"github.com/gfsha/master/internal/cluster"

	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
)

// CheckpointReport is `ctl checkpoint`.
type CheckpointReport struct {
	// Index is the primary's new checkpoint.
	Index uint64 `json:"index"`
	// FirstIndex is the first log index still in etcd after trimming.
	FirstIndex uint64            `json:"first_index"`
	Members    map[string]uint64 `json:"members"` // each member's checkpoint index
}

// Dialer returns an RPC client of the master at addr.
type Dialer func(addr string) (masterpb.MasterClient, error)

// Checkpoint makes every live member write a checkpoint now, then has the
// primary trim the log below the oldest of them.
func Checkpoint(ctx context.Context, st Report, dial Dialer) (CheckpointReport, error) {
	r := CheckpointReport{Members: map[string]uint64{}}
	if st.Primary == "" {
		return r, fmt.Errorf("cluster %q has no primary; check `master ctl status`", st.Cluster)
	}
	var primaryAddr string
	for _, m := range st.Members {
		if m.Role == cluster.RoleDown {
			continue // gone; it checkpoints when it restarts
		}
		c, err := dial(m.Address)
		if err != nil {
			return r, err
		}
		resp, err := c.Checkpoint(ctx, &masterpb.CheckpointRequest{})
		if err != nil {
			return r, fmt.Errorf("checkpoint on %s (%s): %s", m.NodeID, m.Address, status.Convert(err).Message())
		}
		r.Members[m.NodeID] = resp.Index
		if m.NodeID == st.Primary {
			r.Index, primaryAddr = resp.Index, m.Address
		}
	}
	if primaryAddr == "" {
		return r, fmt.Errorf("primary %s has no member record yet; retry", st.Primary)
	}
	c, err := dial(primaryAddr)
	if err != nil {
		return r, err
	}
	// Members publish their new checkpoint index in etcd as they write it;
	// the primary trims below the oldest it sees.
	tr, err := c.Trim(ctx, &masterpb.TrimRequest{})
	if err != nil {
		return r, fmt.Errorf("trim on primary %s: %s", st.Primary, status.Convert(err).Message())
	}
	r.FirstIndex = tr.FirstIndex
	return r, nil
}
