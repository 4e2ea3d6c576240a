package benchsuite

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/node"
)

// env is one run's embedded etcd and scratch directory.
type env struct {
	o    Options
	dir  string
	etcd *embedetcd.Server
	c    *clientv3.Client
}

// startEnv starts an embedded etcd (fsync on unless o.NoFsync) in a fresh
// directory under dir.
func startEnv(ctx context.Context, o Options, dir string) (*env, error) {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	srv, err := embedetcd.Start(sctx, embedetcd.Options{Dir: filepath.Join(dir, "etcd"), NoFsync: o.NoFsync})
	if err != nil {
		return nil, err
	}
	c, err := srv.Client()
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("benchsuite: etcd client: %w", err)
	}
	return &env{o: o, dir: dir, etcd: srv, c: c}, nil
}

// Close stops etcd. It is safe to call twice.
func (e *env) Close() {
	if e.c != nil {
		e.c.Close()
		e.c = nil
	}
	if e.etcd != nil {
		e.etcd.Close()
		e.etcd = nil
	}
}

// scratch returns a new directory for one phase.
func (e *env) scratch(name string) (string, error) {
	d := filepath.Join(e.dir, name)
	return d, os.MkdirAll(d, 0o755)
}

// master is one node running in this process.
type master struct {
	*node.Node
	cancel context.CancelFunc
	done   chan struct{}
	own    *clientv3.Client // closed by stop, if set
}

// startMaster runs a node of the named cluster until stop. Its logs are
// discarded: the figures, not the logs, are the output.
func startMaster(c *clientv3.Client, clusterName, id string, tune func(*node.Config)) *master {
	cfg := node.Config{
		Client:   c,
		Keys:     cluster.ForCluster(clusterName),
		NodeID:   id,
		Address:  id,
		LeaseTTL: 10 * time.Second,
		Logger:   slog.New(slog.DiscardHandler),
	}
	if tune != nil {
		tune(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &master{Node: node.New(cfg), cancel: cancel, done: make(chan struct{})}
	go func() { defer close(m.done); m.Run(ctx) }()
	return m
}

// startOwnMaster is startMaster with an etcd client of srv of the node's
// own, as a master process has.
func startOwnMaster(srv *embedetcd.Server, clusterName, id string, tune func(*node.Config)) (*master, error) {
	c, err := srv.Client()
	if err != nil {
		return nil, fmt.Errorf("benchsuite: etcd client: %w", err)
	}
	m := startMaster(c, clusterName, id, tune)
	m.own = c
	return m, nil
}

// stop ends the node and waits for it. It is safe to call twice.
func (m *master) stop() {
	m.cancel()
	<-m.done
	if m.own != nil {
		m.own.Close()
		m.own = nil
	}
}

// waitServing waits until n serves, or ctx ends.
func waitServing(ctx context.Context, n *node.Node) error {
	for {
		promoted := n.Promoted()
		if n.Serving() {
			return nil
		}
		select {
		case <-promoted:
		case <-ctx.Done():
			return fmt.Errorf("benchsuite: %s did not become primary: %w", n.ID(), ctx.Err())
		}
	}
}

// poll calls cond every interval until it holds or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
