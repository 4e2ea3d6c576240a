package maelstrom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/node"
	"github.com/gfsha/master/internal/walship"
)

// clusterName names the in-process master group's keys in etcd.
const clusterName = "maelstrom"

// pollEvery is how often in-memory conditions are re-checked while waiting.
const pollEvery = 2 * time.Millisecond

// groupConfig tunes a group.
type groupConfig struct {
	IDs      []string
	LeaseTTL time.Duration
	// StartTimeout bounds etcd's start and each master's first step
	// (the first one serving, each other one campaigning).
	StartTimeout time.Duration
	// StopTimeout bounds the wait for each master to stop at close.
	StopTimeout time.Duration
	Logger      *slog.Logger
}

// group is the masters named in init, each a node.Node with its own etcd
// client, over one embedded etcd whose data lives in a temporary directory.
type group struct {
	cfg     groupConfig
	log     *slog.Logger
	keys    cluster.Keys
	dir     string
	etcd    *embedetcd.Server
	admin   *clientv3.Client // revokes leases and reads the election
	members []*member        // in init's order

	closeOnce sync.Once
}

// member is one running master.
type member struct {
	id     string
	node   *node.Node
	client *clientv3.Client
	cancel context.CancelFunc
	done   chan struct{} // closed when node.Run has returned
}

// startGroup starts etcd, then the first master, waiting until it serves,
// then each other master in turn, waiting until it campaigns as a caught-up
// standby, so that the queue order (and so who takes over first) follows
// cfg.IDs. On error everything started is stopped.
func startGroup(ctx context.Context, cfg groupConfig) (_ *group, err error) {
	g := &group{cfg: cfg, log: cfg.Logger, keys: cluster.ForCluster(clusterName)}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	g.dir, err = os.MkdirTemp("", "gfsha-maelstrom-")
	if err != nil {
		return nil, fmt.Errorf("maelstrom: temporary directory for etcd: %w", err)
	}
	began := time.Now()
	g.etcd, err = embedetcd.Start(ctx, embedetcd.Options{
		Dir: filepath.Join(g.dir, "etcd"), NoFsync: true, StartTimeout: cfg.StartTimeout,
	})
	if err != nil {
		return nil, err
	}
	if g.admin, err = g.etcd.Client(); err != nil {
		return nil, fmt.Errorf("maelstrom: etcd client: %w", err)
	}
	g.log.Info("embedded etcd serving", "endpoint", g.etcd.Endpoint(), "dir", g.dir, "took", time.Since(began))

	for i, id := range cfg.IDs {
		m, err := g.startMember(ctx, id)
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
		if i == 0 {
			err = waitFor(wctx, m.node.Serving)
			if err != nil {
				err = fmt.Errorf("maelstrom: master %s did not serve within %v: %w", id, cfg.StartTimeout, err)
			}
		} else {
			err = g.waitStandby(wctx, m)
			if err != nil {
				err = fmt.Errorf("maelstrom: master %s did not join as a standby within %v: %w", id, cfg.StartTimeout, err)
			}
		}
		cancel()
		if err != nil {
			return nil, err
		}
	}
	g.log.Info("masters running", "masters", cfg.IDs, "took", time.Since(began))
	return g, nil
}

func (g *group) startMember(ctx context.Context, id string) (*member, error) {
	c, err := g.etcd.Client()
	if err != nil {
		return nil, fmt.Errorf("maelstrom: etcd client for %s: %w", id, err)
	}
	n := node.New(node.Config{
		Client:   c,
		Keys:     g.keys,
		NodeID:   id,
		LeaseTTL: g.cfg.LeaseTTL,
		Logger:   g.log,
	})
	// The node outlives this request: its context is the group's to end.
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m := &member{id: id, node: n, client: c, cancel: cancel, done: make(chan struct{})}
	g.members = append(g.members, m)
	go func() {
		defer close(m.done)
		if err := n.Run(nctx); err != nil && !errors.Is(err, context.Canceled) {
			g.log.Error("master stopped", "node", id, "err", err)
		}
	}()
	return m, nil
}

// byID returns the master named id, or nil.
func (g *group) byID(id string) *member {
	for _, m := range g.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// primary is the master serving now (the newest leadership if, for an
// instant, a deposed one has not noticed yet), or nil.
func (g *group) primary() *member {
	var best *member
	var bestToken int64
	for _, m := range g.members {
		if !m.node.Serving() {
			continue
		}
		if t := m.node.Status().Token; best == nil || t > bestToken {
			best, bestToken = m, t
		}
	}
	return best
}

// electionQueue maps each campaigning lease to its place in the election
// queue: 0 holds (or is about to hold) leadership, 1 takes over next, ...
func (g *group) electionQueue(ctx context.Context) (map[clientv3.LeaseID]int, error) {
	r, err := g.admin.Get(ctx, g.keys.Election()+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("maelstrom: read the election from etcd: %w", err)
	}
	q := make(map[clientv3.LeaseID]int, len(r.Kvs))
	for i, kv := range r.Kvs {
		q[clientv3.LeaseID(kv.Lease)] = i
	}
	return q, nil
}

// campaigning reports whether m is a standby whose current session has a
// key in the election queue, so that it takes over when it comes first.
func (g *group) campaigning(ctx context.Context, m *member) (bool, error) {
	if m.node.Role() != cluster.RoleCandidate {
		return false, nil
	}
	lease, err := parseLease(m.node.Status().LeaseID)
	if err != nil {
		return false, nil // between sessions
	}
	q, err := g.electionQueue(ctx)
	if err != nil {
		return false, err
	}
	_, ok := q[lease]
	return ok, nil
}

// waitStandby waits until m campaigns and has replayed the log up to its
// head as read when the wait began.
func (g *group) waitStandby(ctx context.Context, m *member) error {
	head, err := walship.ReadHead(ctx, g.admin, g.keys.WAL())
	if err != nil {
		return err
	}
	return waitFor(ctx, func() bool {
		if m.node.Status().AppliedIndex < head {
			return false
		}
		ok, err := g.campaigning(ctx, m)
		if err != nil {
			g.log.Debug("check campaign", "node", m.id, "err", err)
		}
		return ok
	})
}

// close stops every master, then etcd, and removes the data directory.
// Masters get StopTimeout in all to stop (each revokes its own lease), etcd
// gets StopTimeout too; past either bound close logs and goes on, so that
// the process exits promptly anyway. It is safe to call twice.
func (g *group) close() {
	g.closeOnce.Do(func() {
		began := time.Now()
		for _, m := range g.members {
			m.cancel()
		}
		deadline := time.NewTimer(g.cfg.StopTimeout)
		defer deadline.Stop()
	wait:
		for _, m := range g.members {
			select {
			case <-m.done:
			case <-deadline.C:
				g.log.Warn("masters did not stop in time; abandoning them", "after", g.cfg.StopTimeout)
				break wait
			}
		}
		for _, m := range g.members {
			m.client.Close() // also ends an abandoned master's etcd calls
		}
		mastersStopped := time.Since(began)
		if g.admin != nil {
			g.admin.Close()
		}
		if g.etcd != nil {
			done := make(chan struct{})
			go func() {
				defer close(done)
				g.etcd.Close()
			}()
			t := time.NewTimer(g.cfg.StopTimeout)
			select {
			case <-done:
			case <-t.C:
				g.log.Warn("etcd did not stop in time; abandoning it", "after", g.cfg.StopTimeout)
			}
			t.Stop()
		}
		etcdStopped := time.Since(began) - mastersStopped
		if g.dir != "" {
			if err := os.RemoveAll(g.dir); err != nil {
				g.log.Warn("could not remove etcd's temporary directory", "dir", g.dir, "err", err)
			}
		}
		g.log.Info("masters and etcd stopped", "took", time.Since(began), "masters", mastersStopped, "etcd", etcdStopped)
	})
}

// parseLease reads a lease id written as member status writes it (hex).
func parseLease(hex string) (clientv3.LeaseID, error) {
	id, err := strconv.ParseInt(hex, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("maelstrom: lease id %q is not hex: %w", hex, err)
	}
	return clientv3.LeaseID(id), nil
}

// waitFor polls cond, which must return quickly (an in-memory check or one
// local etcd read), until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	if cond() {
		return nil
	}
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if cond() {
				return nil
			}
		}
	}
}
