package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/cluster"
)

// IsPaused reports whether the cluster is in maintenance mode.
func IsPaused(ctx context.Context, c *clientv3.Client, name string) (bool, error) {
	r, err := c.Get(ctx, cluster.ForCluster(name).ControlKey(cluster.ControlPaused), clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("read pause state: %w", err)
	}
	return r.Count > 0, nil
}

// Pause turns maintenance mode on: standbys withdraw from the election, so
// no automatic failover happens; the primary keeps serving. It writes
// nothing, and returns an error wrapping ErrNoMasters, when no master of
// the cluster is registered.
func Pause(ctx context.Context, c *clientv3.Client, name string) error {
	keys := cluster.ForCluster(name)
	b, _ := json.Marshal(cluster.PauseRecord{Since: time.Now().UTC(), By: "ctl"})
	r, err := c.Txn(ctx).If(mastersRegistered(keys)).Then(clientv3.OpPut(keys.ControlKey(cluster.ControlPaused), string(b))).Commit()
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	if !r.Succeeded {
		return noMasters{cluster: name, endpoints: c.Endpoints()}
	}
	return nil
}

// Resume turns maintenance mode off.
func Resume(ctx context.Context, c *clientv3.Client, name string) error {
	if _, err := c.Delete(ctx, cluster.ForCluster(name).ControlKey(cluster.ControlPaused)); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	return nil
}

// SwitchoverReport is `ctl switchover`.
type SwitchoverReport struct {
	From             string  `json:"from"`
	To               string  `json:"to"`
	OldToken         int64   `json:"old_token"`
	NewToken         int64   `json:"new_token"`
	LastIndex        uint64  `json:"last_index"` // the old primary's last committed index
	SwitchoverTimeMs float64 `json:"switchover_time_ms"`
}

// Switchover asks the primary to hand over to `to` and waits until `to` serves.
func Switchover(ctx context.Context, c *clientv3.Client, name, to string, dial Dialer, timeout time.Duration) (SwitchoverReport, error) {
	st, err := Status(ctx, c, name)
	if err != nil {
		return SwitchoverReport{}, err
	}
	rep := SwitchoverReport{From: st.Primary, To: to, OldToken: st.Token}
	var addr string
	for _, m := range st.Members {
		if m.NodeID == st.Primary {
			addr = m.Address
		}
	}
	if st.Primary == "" || addr == "" {
		return rep, fmt.Errorf("cluster %q has no serving primary to switch over from", name)
	}
	w, err := watchPromotion(ctx, c, cluster.ForCluster(name), st.Primary, st.Token, timeout)
	if err != nil {
		return rep, err
	}
	defer w.stop()
	m, err := dial(addr)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	resp, err := m.Switchover(ctx, &masterpb.SwitchoverRequest{To: to})
	if err != nil {
		return rep, fmt.Errorf("switchover refused by %s: %s", st.Primary, status.Convert(err).Message())
	}
	rep.LastIndex = resp.AppliedIndex
	np, err := w.wait()
	if err != nil {
		return rep, err
	}
	rep.NewToken, rep.SwitchoverTimeMs = np.Token, cluster.Ms(time.Since(start))
	if np.NodeID != to {
		return rep, fmt.Errorf("%s took over instead of %s", np.NodeID, to)
	}
	return rep, nil
}

// History reads the leadership changes, oldest first.
func History(ctx context.Context, c *clientv3.Client, name string) ([]cluster.HistoryRecord, error) {
	r, err := c.Get(ctx, cluster.ForCluster(name).History(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	out := []cluster.HistoryRecord{}
	for _, kv := range r.Kvs {
		var h cluster.HistoryRecord
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			return nil, fmt.Errorf("history record %s: %w", kv.Key, err)
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Token < out[j].Token })
	byToken := map[int64]string{}
	for _, h := range out {
		byToken[h.Token] = h.NewPrimary
	}
	for i := range out {
		out[i].PreviousPrimary = byToken[out[i].PreviousToken]
	}
	return out, nil
}
