package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/devcluster"
)

// startData starts one master and three chunkservers with 256 KiB chunks.
func startData(t *testing.T) *client.Client {
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
	return newClient(t, dc)
}

func TestPutCat(t *testing.T) {
	c := startData(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.Mkdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 256 << 10, 256<<10 + 1, 3<<20 + 77} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		path := "/d/f" + strings.Repeat("x", size%7)
		if size == 256<<10 {
			path = "/d/exact"
		}
		n, err := c.Put(ctx, path, bytes.NewReader(data))
		if err != nil || n != int64(size) {
			t.Fatalf("Put(%s, %d bytes) = %d, %v", path, size, n, err)
		}
		var got bytes.Buffer
		if n, err := c.Cat(ctx, path, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("Cat(%s) = %d bytes, %v; want the %d bytes put", path, n, err, size)
		}
		st, err := c.Stat(ctx, path)
		if want := (size + 256<<10 - 1) / (256 << 10); err != nil || st.Size != int64(size) || st.Chunks != want {
			t.Fatalf("Stat(%s) = %+v, %v; want size %d in %d chunks", path, st, err, size, want)
		}
		if err := c.Delete(ctx, path); err != nil {
			t.Fatal(err)
		}
	}
	// Only the published files ever appear: no hidden leftovers.
	if es, err := c.List(ctx, "/d"); err != nil || len(es) != 0 {
		t.Fatalf("List(/d) = %+v, %v; want empty", es, err)
	}
}

func TestDataBadInput(t *testing.T) {
	c := startData(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "/exists", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir(ctx, "/dir"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"put of a missing local file", func() error {
			_, err := c.PutFile(ctx, filepath.Join(t.TempDir(), "missing"), "/x")
			return err
		}, os.ErrNotExist},
		{"put over an existing path", func() error { _, err := c.Put(ctx, "/exists", strings.NewReader("y")); return err }, client.ErrExists},
		{"put into a missing directory", func() error { _, err := c.Put(ctx, "/nodir/f", strings.NewReader("y")); return err }, client.ErrNotFound},
		{"put to an invalid path", func() error { _, err := c.Put(ctx, "relative", strings.NewReader("y")); return err }, client.ErrInvalid},
		{"cat of a missing path", func() error { _, err := c.Cat(ctx, "/missing", io.Discard); return err }, client.ErrNotFound},
		{"cat of a directory", func() error { _, err := c.Cat(ctx, "/dir", io.Discard); return err }, client.ErrInvalid},
	} {
		err := tc.do()
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v; want %v", tc.name, err, tc.want)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}
	var got bytes.Buffer
	if _, err := c.Cat(ctx, "/exists", &got); err != nil || got.String() != "x" {
		t.Fatalf("Cat(/exists) = %q, %v; want the first put's data", got.String(), err)
	}
}
