package devcluster

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/internal/config"
)

// TestDataDirKept: a cluster started on Dir keeps its data there at Close,
// and a new cluster on the same Dir finds it (`master dev --data-dir`).
func TestDataDirKept(t *testing.T) {
	dir := t.TempDir()
	start := func() *Cluster {
		cfg := config.Config{Cluster: "test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
		cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
		cfg.Etcd.DialTimeout = 5 * time.Second
		cfg.Election.LeaseTTL = 10 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		dc, err := Start(ctx, Options{Base: cfg, Masters: 1, Logger: slog.New(slog.DiscardHandler), Dir: dir, NoFsync: true, Chunkservers: -1})
		if err != nil {
			t.Fatalf("start dev cluster on %s: %v", dir, err)
		}
		t.Cleanup(dc.Close)
		dc.WaitStable(t)
		if got, tmp := dc.DataDir(); got != dir || tmp {
			t.Fatalf("DataDir() = %s, temporary %v; want %s, kept", got, tmp, dir)
		}
		return dc
	}
	dc := start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := dc.Etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "/devcluster-test/kept", "yes"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var b strings.Builder
	dc.PrintBanner(&b)
	if !strings.Contains(b.String(), dir+" (kept") {
		t.Fatalf("banner does not say the data is kept in %s:\n%s", dir, b.String())
	}
	dc.Close()

	dc = start()
	c, err = dc.Etcd.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Get(ctx, "/devcluster-test/kept")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "yes" {
		t.Fatalf("after a restart on %s: get = %v, %v; want the key written before", dir, r, err)
	}
}

// TestBusyPortSaid: a configured port in use is replaced by a free one, and
// the cluster says which, in one line naming the flags that choose ports.
func TestBusyPortSaid(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().String()
	dc := &Cluster{}
	got := dc.pickAddr("master n1 rpc", busy, 0)
	if got == busy {
		t.Fatalf("pickAddr(%s) = the busy address", busy)
	}
	line := dc.BusyLine()
	for _, want := range []string{"busy", "master n1 rpc " + busy + " → " + got, "--listen", "--etcd-endpoints"} {
		if !strings.Contains(line, want) {
			t.Errorf("BusyLine() = %q; want it to contain %q", line, want)
		}
	}
	if strings.Contains(line, "\n") {
		t.Errorf("BusyLine() = %q; want one line", line)
	}
	if (&Cluster{}).BusyLine() != "" {
		t.Error("BusyLine() of a cluster on its configured ports is not empty")
	}
}
