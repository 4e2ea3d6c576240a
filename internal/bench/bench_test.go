package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/benchsuite"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
	"github.com/gfsha/master/internal/server"
)

// writers is the concurrency of every write benchmark.
var writers = 256

func init() {
	flag.IntVar(&writers, "writers", writers, "concurrent writers in the write benchmarks")
}

var (
	etcdOnce sync.Once
	etcdSrv  *embedetcd.Server
	etcdErr  error
	clusterN atomic.Int64
)

// sharedEtcd is one embedded etcd (fsync on, as in production) for the
// whole run, so the put rate and the master's rates are measured on the
// same server.
func sharedEtcd(b *testing.B) *embedetcd.Server {
	etcdOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gfsha-bench-")
		if err != nil {
			etcdErr = err
			return
		}
		etcdSrv, etcdErr = embedetcd.Start(context.Background(), embedetcd.Options{Dir: filepath.Join(dir, "etcd")})
	})
	if etcdErr != nil {
		b.Fatal(etcdErr)
	}
	return etcdSrv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if etcdSrv != nil {
		etcdSrv.Close()
	}
	os.Exit(code)
}

func newClusterName() string { return "bench" + strconv.FormatInt(clusterN.Add(1), 10) }

// runParallel runs n operations across writers goroutines.
func runParallel(b *testing.B, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := op(i); err != nil {
					if failed.Add(1) == 1 {
						b.Errorf("op %d: %v", i, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkEtcdPut(b *testing.B) {
	srv := sharedEtcd(b)
	c, err := srv.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	val := string(meta.Op{Type: meta.OpCreate, Path: "/bench/some/file-000000"}.Marshal())
	prefix := "/bench-put/" + newClusterName() + "/"
	runParallel(b, func(i int) error {
		_, err := c.Put(context.Background(), prefix+strconv.Itoa(i), val)
		return err
	})
}

// primaryNode starts one node and waits until it serves.
func primaryNode(b *testing.B, c *clientv3.Client, name string) (*node.Node, func()) {
	n := node.New(node.Config{Client: c, Keys: cluster.ForCluster(name), NodeID: "n1", Address: "-", Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	select {
	case <-n.Promoted():
	case <-time.After(30 * time.Second):
		b.Fatal("node did not become primary")
	}
	return n, func() { cancel(); <-done }
}

func BenchmarkEngineCreate(b *testing.B) {
	srv := sharedEtcd(b)
	c, err := srv.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	n, stop := primaryNode(b, c, newClusterName())
	defer stop()
	for d := range writers {
		if r, err := n.Propose(context.Background(), meta.Op{Type: meta.OpMkdir, Path: fmt.Sprintf("/d%d", d)}); err != nil || r.Err != nil {
			b.Fatal(err, r.Err)
		}
	}
	runParallel(b, func(i int) error {
		r, err := n.Propose(context.Background(), meta.Op{Type: meta.OpCreate, Path: fmt.Sprintf("/d%d/f%d", i%writers, i)})
		if err != nil {
			return err
		}
		return r.Err
	})
}

func BenchmarkRPCCreate(b *testing.B) {
	srv := sharedEtcd(b)
	name := newClusterName()
	cfg := config.Config{Cluster: name, NodeID: "n1", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", DataDir: b.TempDir()}
	cfg.Etcd.Endpoints = []string{srv.Endpoint()}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	s, err := server.Start(context.Background(), server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Node.Promoted():
	case <-time.After(30 * time.Second):
		b.Fatal("no primary")
	}
	// Several client instances, as several client processes would be.
	const clients = 8
	cls := make([]*client.Client, clients)
	for i := range cls {
		cl, err := client.New(context.Background(), client.Config{Endpoints: []string{srv.Endpoint()}, Cluster: name})
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		cls[i] = cl
	}
	for d := range writers {
		if err := cls[0].Mkdir(context.Background(), fmt.Sprintf("/d%d", d)); err != nil {
			b.Fatal(err)
		}
	}
	runParallel(b, func(i int) error {
		return cls[i%clients].Create(context.Background(), fmt.Sprintf("/d%d/f%d", i%writers, i))
	})
}

// BenchmarkRevokeToFirstWrite: each iteration waits until the standby
// campaigns with everything applied, revokes the primary's lease and
// measures until the standby's first acknowledged write (benchsuite.Pair,
// as `master bench` does).
func BenchmarkRevokeToFirstWrite(b *testing.B) {
	p, err := benchsuite.StartPair(sharedEtcd(b), newClusterName())
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var samples []time.Duration
	b.ResetTimer()
	for range b.N {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := p.Failover(ctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, r.Total)
	}
	b.StopTimer()
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[int(p*float64(len(samples)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(samples[len(samples)-1].Microseconds())/1000, "max-ms")
}
