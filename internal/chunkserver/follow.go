package chunkserver

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/election"
	"github.com/gfsha/master/internal/etcdprobe"
	"github.com/gfsha/master/internal/fencing"
)

// follow watches the election in etcd (a watch, never a poll) and keeps one
// heartbeat session with whoever holds it. On a change it fences the old
// primary at once: the new holder's token is persisted before anything
// else, so a command from the old primary is refused from then on, even if
// it arrives before this chunkserver has re-attached.
func (s *Server) follow(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := func() {}
	defer func() { stop() }()
	for l := range election.ObserveReporting(ctx, s.cfg.Etcd, s.keys.Election(), s.reportEtcd(ctx)) {
		stop()
		stop = func() {}
		if l.Key == "" {
			s.setMaster("")
			s.log.Warn("no primary holds the election; waiting for one")
			continue
		}
		if err := s.highest.Observe(l.Token); err != nil && !errors.Is(err, fencing.ErrStaleToken) {
			s.log.Error("could not persist the new primary's token", "token", l.Token, "err", err)
		}
		v, err := cluster.DecodeLeaderValue(l.Value)
		s.mu.Lock()
		s.leaderID = v.NodeID
		s.mu.Unlock()
		if err != nil || v.Address == "" {
			s.log.Warn("election holder has no usable address", "key", l.Key, "err", err)
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		stop = cancel
		wg.Add(1)
		go func() { defer wg.Done(); s.heartbeatTo(sctx, v) }()
	}
}

// reportEtcd logs, like `serve`, every failed attempt to read the election
// (with why: a refused port is named as such) and the recovery.
func (s *Server) reportEtcd(ctx context.Context) func(error, time.Duration) {
	return func(err error, in time.Duration) {
		if err == nil {
			s.log.Info("etcd reachable again; following the election")
			return
		}
		if rerr := etcdprobe.Refused(ctx, s.cfg.Etcd.Endpoints()); rerr != nil {
			err = rerr
		}
		s.log.Warn("etcd unreachable; cannot find the primary; retrying", "endpoints", s.cfg.Etcd.Endpoints(), "in", in, "err", err)
	}
}

func (s *Server) setMaster(id string) {
	s.mu.Lock()
	s.master = id
	s.mu.Unlock()
}

// heartbeatTo registers with the master v and heartbeats to it until ctx
// ends (the election changed hands). The first heartbeat, and every one
// after the replica set changed or the master asked, is a full report.
func (s *Server) heartbeatTo(ctx context.Context, v cluster.LeaderValue) {
	log := s.log.With("master", v.NodeID, "master_address", v.Address)
	interval := s.cfg.HeartbeatInterval
	const minRetry = 10 * time.Millisecond
	retry := minRetry
	registered, needFull := false, true
	var lastGen uint64
	failures := 0
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			t.Stop()
		}
		s.mu.Lock()
		paused := s.paused
		s.mu.Unlock()
		if paused {
			t.Reset(interval)
			continue
		}
		gen := s.store.Generation()
		full := needFull || !registered || gen != lastGen
		resp, err := s.heartbeat(ctx, v.Address, full, false)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if failures == 1 || failures%20 == 0 {
				lvl := slog.LevelDebug
				if status.Code(err) != codes.Unavailable || failures > 1 {
					lvl = slog.LevelWarn
				}
				log.Log(ctx, lvl, "heartbeat failed; retrying", "err", err, "failures", failures)
			}
			if status.Code(err) == codes.PermissionDenied {
				// The master is older than a token seen here: wait for the
				// watch to name the new primary.
				t.Reset(interval)
				continue
			}
			t.Reset(retry)
			retry = min(2*retry, interval)
			continue
		}
		failures, retry = 0, minRetry
		mt := fencing.Token(resp.Token)
		if err := s.highest.Observe(mt); err != nil {
			log.Warn("master answered with an older token; ignoring it until the watch names the new primary", "err", err)
			registered = false
			t.Reset(interval)
			continue
		}
		if !resp.Registered {
			// We did not obey its token yet; now we do: report in full.
			registered, needFull = false, true
			t.Reset(0)
			continue
		}
		if full {
			lastGen = gen
		}
		if !registered {
			registered = true
			s.setMaster(resp.Master)
			log.Info("registered with the primary", "token", mt, "full_report", full)
		}
		needFull = resp.NeedFull
		if needFull {
			t.Reset(0)
		} else {
			t.Reset(interval)
		}
	}
}

// heartbeat sends one heartbeat to the master at addr; reportOnly marks it
// chunkpb.MDReportOnly (a master this chunkserver does not follow).
func (s *Server) heartbeat(ctx context.Context, addr string, full, reportOnly bool) (*chunkpb.HeartbeatResponse, error) {
	cc, err := s.conn(addr)
	if err != nil {
		return nil, err
	}
	req := &chunkpb.HeartbeatRequest{Id: s.cfg.ID, Address: s.addr, Token: int64(s.highest.Current()),
		Full: full, Generation: s.store.Generation(), FreeBytes: s.store.FreeBytes()}
	if full {
		for _, c := range s.store.List() {
			req.Chunks = append(req.Chunks, &chunkpb.ChunkInfo{Handle: c.Handle, Version: c.Version, Size: c.Size})
		}
		req.Leases = s.liveLeases()
	}
	hctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if reportOnly {
		hctx = metadata.AppendToOutgoingContext(hctx, chunkpb.MDReportOnly, "1")
	}
	return chunkpb.NewChunkMasterClient(cc).Heartbeat(hctx, req)
}
