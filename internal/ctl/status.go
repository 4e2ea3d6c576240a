package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/walship"
)

// Report is `ctl status`.
type Report struct {
	Cluster         string                 `json:"cluster"`
	Primary         string                 `json:"primary"`
	Shadow          string                 `json:"shadow"`
	Token           int64                  `json:"token"`
	LastFencedIndex uint64                 `json:"last_fenced_index"`
	WALLagEntries   uint64                 `json:"wal_lag_entries"`
	WALLagMs        float64                `json:"wal_lag_ms"`
	Paused          bool                   `json:"paused"`
	Members         []cluster.MemberStatus `json:"members"`
}

// Status reads the cluster's state from etcd, refreshing each member's
// entry from its own /status endpoint when it answers within a moment.
func Status(ctx context.Context, c *clientv3.Client, name string) (Report, error) {
	keys := cluster.ForCluster(name)
	r := Report{Cluster: name, Members: []cluster.MemberStatus{}}
	l, err := election.CurrentLeader(ctx, c, keys.Election())
	switch {
	case errors.Is(err, election.ErrNoLeader):
	case err != nil:
		return r, fmt.Errorf("read leader from etcd: %w", err)
	default:
		v, err := cluster.DecodeLeaderValue(l.Value)
		if err != nil {
			return r, err
		}
		r.Primary, r.Token = v.NodeID, int64(l.Token)
	}
	head, err := walship.ReadHead(ctx, c, keys.WAL())
	if err != nil {
		return r, err
	}
	r.LastFencedIndex = head
	if r.Paused, err = IsPaused(ctx, c, name); err != nil {
		return r, err
	}
	resp, err := c.Get(ctx, keys.Members(), clientv3.WithPrefix())
	if err != nil {
		return r, fmt.Errorf("read members from etcd: %w", err)
	}
	for _, kv := range resp.Kvs {
		var m cluster.MemberStatus
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return r, fmt.Errorf("member record %s: %w", kv.Key, err)
		}
		r.Members = append(r.Members, m)
	}
	refresh(ctx, r.Members)
	down, err := downMembers(ctx, c, keys, r.Members)
	if err != nil {
		return r, err
	}
	r.Members = append(r.Members, down...)
	sort.Slice(r.Members, func(i, j int) bool { return r.Members[i].NodeID < r.Members[j].NodeID })
	for i := range r.Members {
		m := &r.Members[i]
		if m.Role == cluster.RoleDown && m.NodeID != r.Primary {
			continue
		}
		if m.NodeID == r.Primary && m.Role != cluster.RolePrimary && m.Role != cluster.RoleCatchingUp {
			m.Role = cluster.RoleCatchingUp // won the election, gate not yet open
		}
		if m.NodeID != r.Primary && m.Role == cluster.RolePrimary {
			m.Role = cluster.RoleStandby // a stale record of a deposed primary
		}
		if m.Role != cluster.RolePrimary && head > m.AppliedIndex && m.LagEntries < head-m.AppliedIndex {
			m.LagEntries = head - m.AppliedIndex
		}
	}
	var best *cluster.MemberStatus
	for i := range r.Members {
		m := &r.Members[i]
		if m.NodeID == r.Primary || m.ReplayError != "" || m.Role == cluster.RoleDown || m.Role == cluster.RoleDisconnected {
			continue
		}
		if best == nil || m.AppliedIndex > best.AppliedIndex {
			best = m
		}
	}
	if best != nil {
		r.Shadow, r.WALLagEntries, r.WALLagMs = best.NodeID, best.LagEntries, best.LagMs
	}
	return r, nil
}

// refresh replaces each member's etcd record with what its /status says
// now, when it answers quickly; the etcd record may be a moment old.
func refresh(ctx context.Context, ms []cluster.MemberStatus) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for i := range ms {
		if ms[i].HTTPAddress == "" {
			continue
		}
		wg.Add(1)
		go func(m *cluster.MemberStatus) {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.HTTPAddress+"/status", nil)
			if err != nil {
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var fresh cluster.MemberStatus
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&fresh) == nil && fresh.NodeID == m.NodeID {
				*m = fresh
			}
		}(&ms[i])
	}
	wg.Wait()
}

// Warnings are what an operator should notice in r: no caught-up standby
// to fail over to, a standby that lags, members that are down.
func Warnings(r Report) []string {
	var out []string
	caughtUp, standbys := 0, 0
	for _, m := range r.Members {
		switch {
		case m.Role == cluster.RoleDown:
			out = append(out, fmt.Sprintf("member %s is down (remove it with `ctl remove %s` if it is gone for good)", m.NodeID, m.NodeID))
		case m.NodeID == r.Primary:
		case m.Tags != nil && m.Tags.NoFailover:
		case m.Role == cluster.RoleStandby:
			standbys++
			if m.ReplayError != "" {
				out = append(out, fmt.Sprintf("standby %s stopped replaying: %s", m.NodeID, m.ReplayError))
			} else if m.LagEntries == 0 {
				caughtUp++
			} else if m.LagEntries > laggingEntries || m.LagMs > laggingMs {
				out = append(out, fmt.Sprintf("standby %s lags %d entries / %.0f ms", m.NodeID, m.LagEntries, m.LagMs))
			}
		}
	}
	if r.Primary == "" {
		out = append(out, "no primary: writes wait until a standby wins the election")
	}
	if caughtUp == 0 && standbys == 0 {
		out = append(out, "no standby that may take over: a failure of the primary stops writes until it returns")
	} else if caughtUp == 0 {
		out = append(out, "no caught-up standby: a failover now would first replay the lag")
	}
	return out
}

// A standby is reported lagging beyond these.
const (
	laggingEntries = 1000
	laggingMs      = 1000
)
