package client_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/devcluster"
)

func newClient(t *testing.T, dc *devcluster.Cluster) *client.Client {
	t.Helper()
	c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNamespace(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	c := newClient(t, dc)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, step := range []struct {
		name string
		do   func() error
		want error
	}{
		{"mkdir", func() error { return c.Mkdir(ctx, "/a") }, nil},
		{"mkdir nested", func() error { return c.Mkdir(ctx, "/a/b") }, nil},
		{"create", func() error { return c.Create(ctx, "/a/b/f") }, nil},
		{"create existing", func() error { return c.Create(ctx, "/a/b/f") }, client.ErrExists},
		{"mkdir existing", func() error { return c.Mkdir(ctx, "/a") }, client.ErrExists},
		{"relative path", func() error { return c.Create(ctx, "a/g") }, client.ErrInvalid},
		{"dot element", func() error { return c.Create(ctx, "/a/../g") }, client.ErrInvalid},
		{"control character", func() error { return c.Create(ctx, "/a/x\ty") }, client.ErrInvalid},
		{"DEL", func() error { return c.Mkdir(ctx, "/a/x\x7f") }, client.ErrInvalid},
		{"rename to a control character", func() error { return c.Rename(ctx, "/a/b/f", "/a/\u0085") }, client.ErrInvalid},
		{"invalid UTF-8", func() error { return c.Mkdir(ctx, "/a/\xff") }, client.ErrInvalid},
		{"stat of invalid UTF-8", func() error { _, err := c.Stat(ctx, "/a/\xff"); return err }, client.ErrInvalid},
		{"delete of invalid UTF-8", func() error { return c.Delete(ctx, "/\xc3") }, client.ErrInvalid},
		{"missing parent", func() error { return c.Create(ctx, "/nope/g") }, client.ErrNotFound},
		{"delete non-empty", func() error { return c.Delete(ctx, "/a") }, client.ErrPrecondition},
		{"dir into own subtree", func() error { return c.Rename(ctx, "/a", "/a/b/c") }, client.ErrInvalid},
		{"rename", func() error { return c.Rename(ctx, "/a/b/f", "/a/g") }, nil},
		{"delete", func() error { return c.Delete(ctx, "/a/g") }, nil},
		{"delete missing", func() error { return c.Delete(ctx, "/a/g") }, client.ErrNotFound},
	} {
		err := step.do()
		if step.want == nil && err != nil || step.want != nil && !errors.Is(err, step.want) {
			t.Fatalf("%s: err = %v; want %v", step.name, err, step.want)
		}
	}
	es, err := c.List(ctx, "/a")
	if err != nil || len(es) != 1 || es[0].Name != "b" || !es[0].Dir {
		t.Fatalf("List(/a) = %+v, %v; want just dir b", es, err)
	}
	if _, err := c.Stat(ctx, "/a/g"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Stat(/a/g) = %v; want ErrNotFound", err)
	}
	e, err := c.Stat(ctx, "/a/b")
	if err != nil || e.Path != "/a/b" || !e.Dir {
		t.Fatalf("Stat(/a/b) = %+v, %v", e, err)
	}
	// Failed requests changed nothing: both masters hold the same state.
	if ds := dc.WaitConverged(t); ds[0] != ds[1] {
		t.Fatalf("digests differ: %v", ds)
	}
}

// Concurrent creates through one client across a revoke: every call
// succeeds exactly once (retries are answered from the dedup table, never
// reported as "exists").
func TestCreatesAcrossFailover(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	c := newClient(t, dc)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.Mkdir(ctx, "/x"); err != nil {
		t.Fatal(err)
	}
	old := dc.Primary()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	half := make(chan struct{})
	var once sync.Once
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := c.Create(ctx, fmt.Sprintf("/x/%d-%d", w, i)); err != nil {
					errs <- fmt.Errorf("create %d-%d: %w", w, i, err)
				}
				if i == 20 {
					once.Do(func() { close(half) })
				}
			}
		}()
	}
	<-half
	lease, _ := strconv.ParseInt(old.Node.Status().LeaseID, 16, 64)
	if _, err := dc.Masters[0].Etcd().Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	es, err := c.List(ctx, "/x")
	if err != nil || len(es) != 400 {
		t.Fatalf("List(/x) has %d entries, %v; want 400", len(es), err)
	}
	if p := c.Primary(); p.NodeID == old.Node.ID() {
		t.Errorf("client still follows %s after its lease was revoked", p.NodeID)
	}
}

func TestNoPrimaryTimesOutClearly(t *testing.T) {
	dc := devcluster.StartT(t, 1)
	c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err = c.Create(ctx, "/f")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Create with no primary = %v; want a deadline error", err)
	}
	if got := err.Error(); !strings.Contains(got, `cluster "other"`) {
		t.Errorf("error %q does not name the cluster", got)
	}
}
