// Package devcluster runs a whole local cluster in one process: an embedded
// etcd, several masters and (by default three) chunkservers, each master a full server.Server with its own etcd
// client, RPC and HTTP listeners. `master dev` and tests use it. It is for
// development only: one etcd member, one machine.
package devcluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/chunkserver"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/server"
)

// Options configure a dev cluster.
type Options struct {
	// Base supplies cluster, lease TTL, etc. Its listen, http_listen and
	// etcd.endpoints give the first addresses to try; each next master
	// takes the next port. A port in use is replaced by a free one, and
	// Busy says which were (a second `master dev` on the same machine runs
	// on free ports).
	Base    config.Config
	Masters int
	Logger  *slog.Logger
	// Dir holds the cluster's data (etcd, masters, chunkservers), kept at
	// Close and reused by the next Start; a temporary directory removed at
	// Close when empty.
	Dir string
	// NoFsync for tests.
	NoFsync bool
	// Chunkservers is how many chunkservers to start (cs1, cs2, ...): 0
	// means 3, a negative number none. They listen from 127.0.0.1:7101 on.
	Chunkservers int
	// Chunk tunes every master's data path (chunk size, lease duration...).
	Chunk chunkmaster.Config
}

// Cluster is a running dev cluster.
type Cluster struct {
	Etcd         *embedetcd.Server
	Masters      []*server.Server
	Chunkservers []*chunkserver.Server
	csEtcd       *clientv3.Client // the chunkservers' etcd client
	cluster      string
	tmp          string
	dir          string
	closeOnce    sync.Once
	// Busy lists the configured addresses that were in use and the free
	// ones used instead ("etcd 127.0.0.1:2379 → 127.0.0.1:40001").
	Busy []string
}

// DataDir is where the cluster's data lives; Temporary reports whether it
// is removed at Close.
func (dc *Cluster) DataDir() (dir string, temporary bool) { return dc.dir, dc.tmp != "" }

// Start starts etcd and the masters.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	dc := &Cluster{cluster: o.Base.Cluster}
	ok := false
	defer func() {
		if !ok {
			dc.Close()
		}
	}()
	dir := o.Dir
	if dir == "" {
		t, err := os.MkdirTemp("", "gfsha-dev-")
		if err != nil {
			return nil, fmt.Errorf("dev: temp dir: %w", err)
		}
		dc.tmp, dir = t, t
	}
	dc.dir = dir
	etcdAddr := ""
	if len(o.Base.Etcd.Endpoints) > 0 {
		etcdAddr = dc.pickAddr("etcd", hostPort(o.Base.Etcd.Endpoints[0]), 0)
	}
	e, err := embedetcd.Start(ctx, embedetcd.Options{Dir: filepath.Join(dir, "etcd"), ClientAddr: etcdAddr, NoFsync: o.NoFsync})
	for attempt := 0; err != nil && etcdAddr != "" && attempt < 4 && ctx.Err() == nil &&
		strings.Contains(err.Error(), "address already in use"); attempt++ {
		// The port picked free was taken before etcd bound it (another
		// process on a busy machine): pick another, as pickAddr would have.
		host, _, _ := net.SplitHostPort(etcdAddr)
		etcdAddr, _ = pickAddr(net.JoinHostPort(host, "0"), 0)
		e, err = embedetcd.Start(ctx, embedetcd.Options{Dir: filepath.Join(dir, "etcd"), ClientAddr: etcdAddr, NoFsync: o.NoFsync})
	}
	if err != nil {
		return nil, err
	}
	dc.Etcd = e
	for i := range o.Masters {
		cfg := o.Base
		cfg.NodeID = "n" + strconv.Itoa(i+1)
		cfg.Listen = dc.pickAddr("master "+cfg.NodeID+" rpc", cfg.Listen, i)
		cfg.HTTPListen = dc.pickAddr("master "+cfg.NodeID+" http", cfg.HTTPListen, i)
		cfg.DataDir = filepath.Join(dir, cfg.NodeID)
		cfg.Etcd.Endpoints = []string{e.Endpoint()}
		cfg.Etcd.Embed = false
		s, err := server.Start(ctx, server.Options{Config: cfg, Logger: o.Logger, Chunk: o.Chunk})
		if err != nil {
			return nil, fmt.Errorf("dev: master %s: %w", cfg.NodeID, err)
		}
		dc.Masters = append(dc.Masters, s)
	}
	if err := dc.startChunkservers(ctx, o, dir); err != nil {
		return nil, err
	}
	ok = true
	return dc, nil
}

// PrintBanner tells where everything listens and what to try next.
func (dc *Cluster) PrintBanner(w io.Writer) {
	ep := dc.Etcd.Endpoint()
	fmt.Fprintf(w, "dev cluster %q is up\n", dc.cluster)
	fmt.Fprintf(w, "  etcd (embedded)   %s\n", ep)
	for _, m := range dc.Masters {
		fmt.Fprintf(w, "  master %-10s rpc %s  http http://%s  (/healthz /primary /standby /status /metrics)\n", m.Node.ID(), m.RPCAddr(), m.HTTPAddr())
	}
	for _, cs := range dc.Chunkservers {
		fmt.Fprintf(w, "  chunkserver %-5s rpc %s\n", cs.ID(), cs.Addr())
	}
	if dc.tmp != "" {
		fmt.Fprintf(w, "  data              %s (temporary: removed at Ctrl-C; keep it with --data-dir DIR)\n", dc.dir)
	} else {
		fmt.Fprintf(w, "  data              %s (kept; `master dev --data-dir %s` runs on it again)\n", dc.dir, dc.dir)
	}
	fmt.Fprintf(w, "\ntry, in another terminal:\n")
	flags := "--etcd-endpoints " + ep
	if dc.cluster != "default" {
		flags += " --cluster " + dc.cluster
	}
	for _, c := range []string{"ctl status", "ctl mkdir /data", "ctl create /data/f", "ctl ls /data -o json", "ctl failover", "ctl status -o json",
		"ctl put go.mod /data/go.mod", "ctl cat /data/go.mod", "ctl chunkservers -o json"} {
		fmt.Fprintf(w, "  go run ./cmd/master %s %s\n", c, flags)
	}
	fmt.Fprintf(w, "  go tool etcdctl --endpoints %s lease revoke <lease_id from ctl status>\n", ep)
	fmt.Fprintf(w, "Ctrl-C stops everything.\n")
}

// Close stops the masters and etcd and removes a temporary directory. A
// second Close does nothing.
func (dc *Cluster) Close() { dc.closeOnce.Do(dc.close) }

func (dc *Cluster) close() {
	for _, cs := range dc.Chunkservers {
		cs.Close()
	}
	if dc.csEtcd != nil {
		dc.csEtcd.Close()
	}
	for _, m := range dc.Masters {
		m.Close()
	}
	if dc.Etcd != nil {
		dc.Etcd.Close()
	}
	if dc.tmp != "" {
		os.RemoveAll(dc.tmp)
	}
}

// startChunkservers starts o.Chunkservers chunkservers with their
// directories under dir.
func (dc *Cluster) startChunkservers(ctx context.Context, o Options, dir string) error {
	n := o.Chunkservers
	if n == 0 {
		n = 3
	}
	if n < 0 {
		return nil
	}
	c, err := dc.Etcd.Client()
	if err != nil {
		return fmt.Errorf("dev: chunkservers' etcd client: %w", err)
	}
	dc.csEtcd = c
	for i := range n {
		id := "cs" + strconv.Itoa(i+1)
		listen := dc.pickAddr("chunkserver "+id, "127.0.0.1:7101", i)
		if _, port, _ := net.SplitHostPort(o.Base.Listen); port == "0" {
			// Tests: a port the kernel picks at listen time, never one
			// checked free earlier that a parallel cluster may take.
			listen = "127.0.0.1:0"
		}
		cs, err := chunkserver.Start(ctx, chunkserver.Config{ID: id, Dir: filepath.Join(dir, id), Listen: listen,
			Etcd: c, Cluster: o.Base.Cluster, Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		dc.Chunkservers = append(dc.Chunkservers, cs)
	}
	return nil
}

// pickAddr is the package's pickAddr, noting in dc.Busy a port that was
// in use.
func (dc *Cluster) pickAddr(what, addr string, i int) string {
	got, busy := pickAddr(addr, i)
	if busy != "" {
		dc.Busy = append(dc.Busy, what+" "+busy+" → "+got)
	}
	return got
}

// BusyLine is one line saying which configured ports were in use and how
// to choose others, or "" when none was.
func (dc *Cluster) BusyLine() string {
	if len(dc.Busy) == 0 {
		return ""
	}
	return fmt.Sprintf("dev: the configured ports were busy (is another `master dev` running?), so free ones are used instead: %s; choose ports with --listen, --http-listen and --etcd-endpoints",
		strings.Join(dc.Busy, ", "))
}

// pickAddr returns addr with its port advanced by i when that port is free,
// else a free port on the same host and the busy address.
func pickAddr(addr string, i int) (got, busy string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "127.0.0.1", "0"
	}
	p, _ := strconv.Atoi(port)
	if p != 0 {
		cand := net.JoinHostPort(host, strconv.Itoa(p+i))
		if l, err := net.Listen("tcp", cand); err == nil {
			l.Close()
			return cand, ""
		}
		busy = cand
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return net.JoinHostPort(host, "0"), busy
	}
	defer l.Close()
	return l.Addr().String(), busy
}

func hostPort(endpoint string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(endpoint) > len(p) && endpoint[:len(p)] == p {
			return endpoint[len(p):]
		}
	}
	return endpoint
}
