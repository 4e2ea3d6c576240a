package benchsuite

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/server"
)

// rpcClients is how many client.Client instances the RPC writers share, as
// that many client processes would; each batches its writers' mutations.
const rpcClients = 8

// dirConcurrency bounds the writers that create the benchmark's directories.
const dirConcurrency = 64

// dirOf is writer w's directory: each writer creates in its own.
func dirOf(w int) string { return "/d" + strconv.Itoa(w) }

// fileOf is the i-th file of writer w, tagged so that loads never collide.
// It allocates once: the driver's own garbage should not weigh on the
// figures.
func fileOf(tag string, w, i int) string {
	var b [48]byte
	p := append(b[:0], "/d"...)
	p = strconv.AppendInt(p, int64(w), 10)
	p = append(p, '/')
	p = append(p, tag...)
	p = strconv.AppendInt(p, int64(i), 10)
	return string(p)
}

// etcdPuts measures plain etcd puts of a create-sized value from writers
// goroutines sharing one etcd client.
func (e *env) etcdPuts(ctx context.Context, writers int, warmup, d time.Duration) (Load, error) {
	val := string(meta.Op{Type: meta.OpCreate, Path: "/d1000/f0000000"}.Marshal())
	return Drive(ctx, writers, warmup, d, func(ctx context.Context, _, i int) error {
		_, err := e.c.Put(ctx, "/bench-put/"+strconv.Itoa(i), val)
		return err
	})
}

// engine is a lone primary whose creates go through node.Propose.
type engine struct {
	*master
	writers int
}

// startEngine starts a primary of a fresh cluster and makes one directory
// per writer.
func (e *env) startEngine(ctx context.Context, clusterName string, writers int) (*engine, error) {
	m := startMaster(e.c, clusterName, "n1", nil)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitServing(wctx, m.Node); err != nil {
		m.stop()
		return nil, err
	}
	eng := &engine{master: m, writers: writers}
	err := forEach(ctx, writers, dirConcurrency, func(ctx context.Context, w int) error {
		return eng.propose(ctx, meta.Op{Type: meta.OpMkdir, Path: dirOf(w)})
	})
	if err != nil {
		m.stop()
		return nil, err
	}
	return eng, nil
}

func (eng *engine) propose(ctx context.Context, op meta.Op) error {
	r, err := eng.Propose(ctx, op)
	if err != nil {
		return err
	}
	if r.Err != nil {
		return fmt.Errorf("%s %s: %w", op.Type, op.Path, r.Err)
	}
	return nil
}

// creates measures creates through node.Propose; tag keeps each load's
// paths apart.
func (eng *engine) creates(ctx context.Context, warmup, d time.Duration, tag string) (Load, error) {
	return Drive(ctx, eng.writers, warmup, d, func(ctx context.Context, w, i int) error {
		return eng.propose(ctx, meta.Op{Type: meta.OpCreate, Path: fileOf(tag, w, i)})
	})
}

// rpcTarget is a master serving the RPC API and the clients that write to it.
type rpcTarget struct {
	srv     *server.Server
	clients []*client.Client
}

// startRPC starts a master (with its own etcd client, as a master process
// has) with its RPC listener on a free loopback port,
// waits until it serves, connects rpcClients clients and makes one directory
// per writer (for up to writers writers).
func (e *env) startRPC(ctx context.Context, clusterName string, writers int) (*rpcTarget, error) {
	cfg := config.Config{Cluster: clusterName, NodeID: "n1", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{e.etcd.Endpoint()}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	// The master runs as in production, data path included (its replica
	// scan reads chunk versions only while chunkservers are registered;
	// its cost is measured on its own, Result.Scan).
	srv, err := server.Start(ctx, server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	t := &rpcTarget{srv: srv}
	ok := false
	defer func() {
		if !ok {
			t.Close()
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitServing(wctx, srv.Node); err != nil {
		return nil, err
	}
	for range rpcClients {
		cl, err := client.New(ctx, client.Config{Endpoints: []string{e.etcd.Endpoint()}, Cluster: clusterName})
		if err != nil {
			return nil, err
		}
		t.clients = append(t.clients, cl)
	}
	err = forEach(ctx, writers, dirConcurrency, func(ctx context.Context, w int) error {
		return t.clients[w%rpcClients].Mkdir(ctx, dirOf(w))
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return t, nil
}

// creates measures creates over RPC from writers goroutines spread over the
// clients; tag keeps each load's paths apart.
func (t *rpcTarget) creates(ctx context.Context, writers int, warmup, d time.Duration, tag string) (Load, error) {
	return Drive(ctx, writers, warmup, d, func(ctx context.Context, w, i int) error {
		return t.clients[w%len(t.clients)].Create(ctx, fileOf(tag, w, i))
	})
}

// Close closes the clients and stops the master, letting go of its state.
// It is safe to call twice.
func (t *rpcTarget) Close() {
	for _, c := range t.clients {
		c.Close()
	}
	t.clients = nil
	if t.srv != nil {
		t.srv.Close()
		t.srv = nil
	}
}
