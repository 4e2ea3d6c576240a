package benchsuite

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/server"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// curveBench is one primary, one client and etcd (fsync on) for the C=1
// benchmarks below, which exist to be profiled:
//
//	go test -run x -bench 'C1' -benchtime 3s -cpuprofile cpu.out \
//	    -blockprofile block.out -mutexprofile mutex.out ./internal/benchsuite
type curveBench struct {
	e   *env
	cl  *client.Client
	srv *server.Server
}

func startCurveBench(b *testing.B) *curveBench { return startCurveBenchN(b, 1) }

// startCurveBenchN is startCurveBench with masters-1 standbys beside the
// primary, as the curve runs it.
func startCurveBenchN(b *testing.B, masters int) *curveBench {
	b.Helper()
	ctx := b.Context()
	e, err := startEnv(ctx, Options{}, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	cfg := config.Config{Cluster: "cb", NodeID: "n1", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{e.etcd.Endpoint()}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	srv, err := server.Start(ctx, server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitServing(wctx, srv.Node); err != nil {
		b.Fatal(err)
	}
	for i := 2; i <= masters; i++ {
		scfg := cfg
		scfg.NodeID = "n" + strconv.Itoa(i)
		sb, err := server.Start(ctx, server.Options{Config: scfg, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(sb.Close)
	}
	cl, err := client.New(ctx, client.Config{Endpoints: []string{e.etcd.Endpoint()}, Cluster: "cb"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Close() })
	if err := cl.Mkdir(ctx, "/d0"); err != nil {
		b.Fatal(err)
	}
	return &curveBench{e: e, cl: cl, srv: srv}
}

func BenchmarkCreateC1(b *testing.B) {
	cb := startCurveBench(b)
	b.ResetTimer()
	for i := range b.N {
		if err := cb.cl.Create(b.Context(), "/d0/f"+strconv.Itoa(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEtcdPutC1(b *testing.B) {
	cb := startCurveBench(b)
	val := curvePutValue()
	b.ResetTimer()
	for i := range b.N {
		if _, err := cb.e.c.Put(b.Context(), "/bench-put/"+strconv.Itoa(i), val); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatC1(b *testing.B) {
	cb := startCurveBench(b)
	b.ResetTimer()
	for range b.N {
		if _, err := cb.cl.Stat(b.Context(), "/d0"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEtcdGetC1(b *testing.B) {
	cb := startCurveBench(b)
	b.ResetTimer()
	for range b.N {
		if _, err := cb.e.c.Get(b.Context(), "/d0"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProposeC1 is a create through node.Propose in the master's
// process: Create minus this is the client and gRPC's share.
func BenchmarkProposeC1(b *testing.B) {
	cb := startCurveBench(b)
	b.ResetTimer()
	for i := range b.N {
		r, err := cb.srv.Node.Propose(b.Context(), meta.Op{Type: meta.OpCreate, Path: "/d0/p" + strconv.Itoa(i)})
		if err == nil {
			err = r.Err
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxnC1 is an etcd transaction of the appender's shape (three
// compares, two puts): Propose minus this is the appender's share.
func BenchmarkTxnC1(b *testing.B) {
	cb := startCurveBench(b)
	val := curvePutValue()
	b.ResetTimer()
	for i := range b.N {
		k := "/bench-txn/" + strconv.Itoa(i)
		_, err := cb.e.c.Txn(b.Context()).If(
			clientv3.Compare(clientv3.CreateRevision("/bench-lk"), "=", 0),
			clientv3.Compare(clientv3.Version("/bench-head"+strconv.Itoa(i)), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(k), "=", 0),
		).Then(clientv3.OpPut(k, val), clientv3.OpPut("/bench-head", k)).Commit()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadConfirmedC1 is a stat in the master's process: Stat minus
// this is the client and gRPC's share.
func BenchmarkReadConfirmedC1(b *testing.B) {
	cb := startCurveBench(b)
	b.ResetTimer()
	for range b.N {
		err := cb.srv.Node.ReadConfirmed(b.Context(), func(st *meta.State) error {
			_, err := st.Stat("/d0")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkC1Interleaved takes one of each C=1 operation in turn, so that
// the machine's load weighs on all alike, and reports each one's median in
// µs: the decomposition of a create and a stat that docs/performance.md
// quotes.
func BenchmarkC1Interleaved(b *testing.B) { c1Interleaved(b, startCurveBench(b)) }

// BenchmarkC1InterleavedStandby is BenchmarkC1Interleaved with a standby
// tailing the log, as in `master bench --curve`.
func BenchmarkC1InterleavedStandby(b *testing.B) { c1Interleaved(b, startCurveBenchN(b, 2)) }

func c1Interleaved(b *testing.B, cb *curveBench) {
	ctx := b.Context()
	val := curvePutValue()
	ops := []struct {
		name string
		fn   func(i int) error
	}{
		{"etcd-put", func(i int) error { _, err := cb.e.c.Put(ctx, "/bench-put/"+strconv.Itoa(i), val); return err }},
		{"etcd-txn", func(i int) error {
			k := "/bench-txn/" + strconv.Itoa(i)
			_, err := cb.e.c.Txn(ctx).If(
				clientv3.Compare(clientv3.CreateRevision("/bench-lk"), "=", 0),
				clientv3.Compare(clientv3.Version("/bench-head"+strconv.Itoa(i)), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(k), "=", 0),
			).Then(clientv3.OpPut(k, val), clientv3.OpPut("/bench-head", k)).Commit()
			return err
		}},
		{"propose", func(i int) error {
			r, err := cb.srv.Node.Propose(ctx, meta.Op{Type: meta.OpCreate, Path: "/d0/p" + strconv.Itoa(i)})
			if err == nil {
				err = r.Err
			}
			return err
		}},
		{"create", func(i int) error { return cb.cl.Create(ctx, "/d0/f"+strconv.Itoa(i)) }},
		{"etcd-get", func(int) error { _, err := cb.e.c.Get(ctx, "/d0"); return err }},
		{"read-confirmed", func(int) error {
			return cb.srv.Node.ReadConfirmed(ctx, func(st *meta.State) error { _, err := st.Stat("/d0"); return err })
		}},
		{"stat", func(int) error { _, err := cb.cl.Stat(ctx, "/d0"); return err }},
	}
	lats := make([][]time.Duration, len(ops))
	b.ResetTimer()
	for i := range b.N {
		for k, op := range ops {
			t0 := time.Now()
			if err := op.fn(i); err != nil {
				b.Fatal(err)
			}
			lats[k] = append(lats[k], time.Since(t0))
		}
	}
	for k, op := range ops {
		slices.Sort(lats[k])
		b.ReportMetric(float64(lats[k][len(lats[k])/2].Microseconds()), op.name+"-p50-µs")
	}
}
