package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bins are the binaries TestMain builds, shared by every test.
var bins struct {
	master, etcd, etcdctl string
}

// buildTimeout bounds building the three binaries (a cold cache on two cores
// takes a few minutes; a warm one a few seconds).
const buildTimeout = 8 * time.Minute

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "gfsha-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	start := time.Now()
	if err := buildBinaries(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build:", err)
		return 1
	}
	fmt.Printf("e2e: built master, etcd and etcdctl in %v\n", time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// buildBinaries builds master from this module and etcd and etcdctl from the
// versions pinned in go.mod (its tool directives) into dir.
func buildBinaries(ctx context.Context, dir string) error {
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	bins.master = filepath.Join(dir, "master")
	bins.etcd = filepath.Join(dir, "etcd")
	bins.etcdctl = filepath.Join(dir, "etcdctl")
	targets := []struct{ out, pkg string }{
		{bins.master, "./cmd/master"},
		{bins.etcd, "go.etcd.io/etcd/server/v3"},
		{bins.etcdctl, "go.etcd.io/etcd/etcdctl/v3"},
	}
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, "go", "build", "-o", tg.out, tg.pkg)
			cmd.Dir = root
			// Never download: everything comes from the module cache.
			cmd.Env = append(os.Environ(), "GOPROXY=off")
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("go build -o %s %s: %v\n%s", filepath.Base(tg.out), tg.pkg, err, out)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// moduleRoot is the directory of this module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// childEnv is the environment of every process the tests start: the test's
// own, without MASTER_* variables that would change the masters' config.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MASTER_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}
