package ctl_test

import (
	"errors"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/devcluster"
)

// A cluster nobody runs (a misspelt --cluster) is named at once, and pause
// writes nothing for it.
func TestNoMastersRegistered(t *testing.T) {
	dc := devcluster.StartT(t, 1)
	etcd := dc.Masters[0].Etcd()
	waitMembers(t, etcd, 1)
	eps := []string{"127.0.0.1:1", "127.0.0.1:2"}

	if err := ctl.RequireMasters(t.Context(), etcd, "test", eps); err != nil {
		t.Fatalf("RequireMasters(test) with a running master = %v; want nil", err)
	}
	err := ctl.RequireMasters(t.Context(), etcd, "nosuch", eps)
	want := "no masters registered for cluster nosuch at 127.0.0.1:1,127.0.0.1:2"
	if !errors.Is(err, ctl.ErrNoMasters) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("RequireMasters(nosuch) = %v; want ErrNoMasters saying %q", err, want)
	}

	if err := ctl.Pause(t.Context(), etcd, "nosuch"); !errors.Is(err, ctl.ErrNoMasters) {
		t.Fatalf("Pause(nosuch) = %v; want ErrNoMasters", err)
	}
	r, err := etcd.Get(t.Context(), "/gfsha/nosuch", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || r.Count != 0 {
		t.Fatalf("keys under /gfsha/nosuch after the refused pause: %d, %v; want none", r.Count, err)
	}
	if paused, err := ctl.IsPaused(t.Context(), etcd, "test"); err != nil || paused {
		t.Fatalf("IsPaused(test) = %v, %v before any pause", paused, err)
	}
}
