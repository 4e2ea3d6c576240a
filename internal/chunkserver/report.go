package chunkserver

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
)

// reportToMembers sends this chunkserver's reports to every master of the
// cluster that is not the election's holder, as HDFS DataNodes report to
// both NameNodes: a shadow then answers Locate, and a shadow promoted to
// primary knows every replica at once. It follows the member keys in etcd
// (a watch) and runs one loop per member until ctx ends. Reports carry no
// command and register nothing: only the primary commands.
func (s *Server) reportToMembers(ctx context.Context) {
	var wg sync.WaitGroup
	loops := map[cluster.MemberStatus]context.CancelFunc{} // by node id and address
	defer func() {
		for _, stop := range loops {
			stop()
		}
		wg.Wait()
	}()
	apply := func(byKey map[string]cluster.MemberStatus) {
		want := map[cluster.MemberStatus]bool{}
		for _, m := range byKey {
			if m.NodeID != "" && m.Address != "" {
				want[cluster.MemberStatus{NodeID: m.NodeID, Address: m.Address}] = true
			}
		}
		for k, stop := range loops {
			if !want[k] {
				stop()
				delete(loops, k)
			}
		}
		for k := range want {
			if loops[k] == nil {
				lctx, cancel := context.WithCancel(ctx)
				loops[k] = cancel
				wg.Add(1)
				go func() { defer wg.Done(); s.reportTo(lctx, k.NodeID, k.Address) }()
			}
		}
	}
	prefix := s.keys.Members()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		_ = s.followMembersOnce(ctx, prefix, apply) // etcd unreachable: keep reporting to the members last seen
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Server) followMembersOnce(ctx context.Context, prefix string, apply func(map[string]cluster.MemberStatus)) error {
	r, err := s.cfg.Etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	ms := map[string]cluster.MemberStatus{}
	for _, kv := range r.Kvs {
		var m cluster.MemberStatus
		if json.Unmarshal(kv.Value, &m) == nil {
			ms[string(kv.Key)] = m
		}
	}
	apply(ms)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range s.cfg.Etcd.Watch(clientv3.WithRequireLeader(wctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(r.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			k := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				delete(ms, k)
				continue
			}
			var m cluster.MemberStatus
			if json.Unmarshal(ev.Kv.Value, &m) == nil {
				ms[k] = m
			}
		}
		apply(ms)
	}
	return ctx.Err()
}

// reportTo reports to the member nodeID at addr every heartbeat interval,
// in full when the replica set changed or the member asks, while that
// member is not the election's holder (which gets heartbeats instead).
func (s *Server) reportTo(ctx context.Context, nodeID, addr string) {
	needFull := true
	var lastGen uint64
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(s.cfg.HeartbeatInterval)
		s.mu.Lock()
		skip := s.paused || s.leaderID == nodeID
		s.mu.Unlock()
		if skip {
			needFull = true
			continue
		}
		gen := s.store.Generation()
		full := needFull || gen != lastGen
		resp, err := s.heartbeat(ctx, addr, full, true)
		if err != nil {
			needFull = true
			continue
		}
		if full {
			lastGen = gen
		}
		needFull = resp.NeedFull
		if needFull {
			t.Reset(0)
		}
	}
}
