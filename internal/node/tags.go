package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
)

// Candidate tags (Config.Tags), as Patroni's:
//
//   - NoFailover: the member keeps a session, replays, checkpoints and
//     publishes its status, but never campaigns, so it never leads.
//   - FailoverPriority: a member that wins the election while another
//     candidate with a higher priority is at least as caught up (its
//     published applied index is not below this one's) resigns before it
//     serves, so that one leads. It never yields to a member that is not
//     campaigning, has a replay error, or is tagged nofailover, so the
//     highest-priority caught-up candidate keeps what it wins.
//
// Neither touches safety: a yielding winner resigns before its promotion
// gate, so it never wrote under its token.

// shadowOnly is a nofailover member's term after its session started: it
// replays until ctx ends, the session ends, or replay stops. It never
// returns nil.
func (n *Node) shadowOnly(ctx context.Context, s *election.Session, tailDone chan error) error {
	n.log.Info("tagged nofailover: replaying as a shadow, never campaigning")
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.Done():
		return fmt.Errorf("etcd session ended (lease %s)", s.LeaseIDHex())
	case err := <-tailDone:
		tailDone <- err
		if err == nil {
			err = fmt.Errorf("replay stopped")
		}
		return err
	}
}

// yieldsToPriority reports the candidate this winner should step aside for:
// one with a higher failover priority that is at least as caught up.
func (n *Node) yieldsToPriority(ctx context.Context) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var sw cluster.SwitchoverRecord
	if ok, err := n.readControl(ctx, cluster.ControlSwitchover, &sw); err == nil && ok && sw.To == n.cfg.NodeID {
		return "", false // the operator chose this member
	}
	mine := n.state.AppliedIndex()
	cands, err := n.cfg.Client.Get(ctx, n.cfg.Keys.Election()+"/", clientv3.WithPrefix())
	if err != nil {
		return "", false
	}
	campaigning := map[string]bool{}
	for _, kv := range cands.Kvs {
		if v, err := cluster.DecodeLeaderValue(kv.Value); err == nil {
			campaigning[v.NodeID] = true
		}
	}
	if len(campaigning) < 2 {
		return "", false
	}
	ms, err := n.cfg.Client.Get(ctx, n.cfg.Keys.Members(), clientv3.WithPrefix())
	if err != nil {
		return "", false
	}
	best, bestPrio := "", n.cfg.Tags.FailoverPriority
	for _, kv := range ms.Kvs {
		var m cluster.MemberStatus
		if json.Unmarshal(kv.Value, &m) != nil || m.NodeID == n.cfg.NodeID || !campaigning[m.NodeID] {
			continue
		}
		if m.Tags == nil || m.Tags.NoFailover || m.ReplayError != "" || m.Role != cluster.RoleStandby {
			continue
		}
		if m.Tags.FailoverPriority > bestPrio && m.AppliedIndex >= mine {
			best, bestPrio = m.NodeID, m.Tags.FailoverPriority
		}
	}
	return best, best != ""
}

// contractRole maps an internal role to the ones members report
// (a campaigning standby is a standby).
func contractRole(role string) string {
	if role == cluster.RoleCandidate {
		return cluster.RoleStandby
	}
	return role
}
