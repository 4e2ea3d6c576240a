package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/devcluster"
)

// startDataCluster is startData, returning the cluster so that a test can
// make several clients.
func startDataCluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	cfg := config.Config{Cluster: "test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	cfg.Chunk.Replication = 3
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: 1, Logger: slog.New(slog.DiscardHandler),
		Dir: t.TempDir(), NoFsync: true, Chunkservers: 3, Chunk: chunkmaster.Config{ChunkSize: 256 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	dc.WaitStable(t)
	return dc
}

// TestAppendConcurrent: 8 clients append at once to one file with small
// chunks (so chunks fill and are padded often); every record is read back
// exactly once after dedup by id, whole.
func TestAppendConcurrent(t *testing.T) {
	dc := startDataCluster(t) // 256 KiB chunks: records up to 64 KiB
	c0 := newClient(t, dc)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := c0.Create(ctx, "/log"); err != nil {
		t.Fatal(err)
	}
	const clients, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		c := newClient(t, dc) // each appender its own client
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				rec := fmt.Sprintf("client %d record %d ", i, j) + strings.Repeat("x", (i*7919+j*104729)%(40<<10))
				if _, err := c.Append(ctx, "/log", []byte(rec)); err != nil {
					errs <- fmt.Errorf("client %d record %d: %w", i, j, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A duplicate, as a retry leaves: read back once.
	if err := c0.AppendTwiceForTest(ctx, "/log", []byte("dup")); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	err := c0.ScanRecords(ctx, "/log", func(r client.Record) error {
		got[string(r.Data)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range clients {
		for j := range each {
			rec := fmt.Sprintf("client %d record %d ", i, j) + strings.Repeat("x", (i*7919+j*104729)%(40<<10))
			if got[rec] != 1 {
				t.Errorf("record %d of client %d read %d times; want 1", j, i, got[rec])
			}
		}
	}
	if got["dup"] != 1 || len(got) != clients*each+1 {
		t.Errorf("dup read %d times, %d distinct records; want 1 and %d", got["dup"], len(got), clients*each+1)
	}
	st, err := c0.Stat(ctx, "/log")
	if err != nil || st.Chunks < 2 {
		t.Errorf("Stat(/log) = %+v, %v; want several chunks (appends that filled one went on in the next)", st, err)
	}
	if _, err := c0.Append(ctx, "/log", make([]byte, 64<<10)); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("Append(64 KiB, a quarter of the chunk) = %v; want ErrInvalid (the header does not fit)", err)
	}
	if _, err := c0.Append(ctx, "/missing", []byte("x")); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Append(missing file) = %v; want ErrNotFound", err)
	}
}
