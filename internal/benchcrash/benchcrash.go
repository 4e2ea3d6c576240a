package benchcrash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/embedetcd"
)

// Options of a run.
type Options struct {
	Binary   string        // the master binary (os.Executable())
	Crashes  int           // kill -9 runs (default 20)
	Restarts int           // lone restart runs (default 5)
	LeaseTTL time.Duration // default 10 s
	Progress io.Writer     // one line per run; nil: none
}

// Figures are a list of durations and their summary.
type Figures struct {
	Runs  int       `json:"runs"`
	P50Ms float64   `json:"p50_ms"`
	P99Ms float64   `json:"p99_ms"`
	MaxMs float64   `json:"max_ms"`
	AllMs []float64 `json:"all_ms"`
}

// Result is what Run measured.
type Result struct {
	LeaseTTLMs float64 `json:"lease_ttl_ms"`
	// Kill9FirstWrite: kill -9 of the primary → first acknowledged create.
	Kill9FirstWrite Figures `json:"kill9_first_write"`
	// RestartFirstWrite: a lone master started again after kill -9 → its
	// first acknowledged create, from the process's start.
	RestartFirstWrite Figures `json:"restart_first_write"`
}

func summarize(ds []time.Duration) Figures {
	f := Figures{Runs: len(ds)}
	if len(ds) == 0 {
		return f
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s)) + 0.5)
		return cluster.Ms(s[min(max(i-1, 0), len(s)-1)])
	}
	f.P50Ms, f.P99Ms, f.MaxMs = q(0.50), q(0.99), cluster.Ms(s[len(s)-1])
	for _, d := range ds {
		f.AllMs = append(f.AllMs, cluster.Ms(d))
	}
	return f
}

// child is one `master serve` process, restartable.
type child struct {
	id, clusterName string
	args            []string
	log             *os.File
	cmd             *exec.Cmd
	done            chan struct{}
}

func (c *child) start(bin string) error {
	cmd := exec.Command(bin, c.args...)
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.id, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done
	return nil
}

// kill sends SIGKILL and waits until the process is gone.
func (c *child) kill() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Kill()
	<-c.done
	c.cmd = nil
}

type env struct {
	o      Options
	dir    string
	etcd   *embedetcd.Server
	kids   []*child
	client map[string]*client.Client
}

// Run measures; it needs a free loopback port per process and a temporary
// directory, both cleaned up.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Crashes <= 0 {
		o.Crashes = 20
	}
	if o.Restarts <= 0 {
		o.Restarts = 5
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	dir, err := os.MkdirTemp("", "gfsha-bench-crash-")
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if os.Getenv("GFSHA_BENCH_KEEP") == "" {
			os.RemoveAll(dir)
		}
	}()
	srv, err := embedetcd.Start(ctx, embedetcd.Options{Dir: filepath.Join(dir, "etcd")})
	if err != nil {
		return Result{}, err
	}
	defer srv.Close()
	e := &env{o: o, dir: dir, etcd: srv, client: map[string]*client.Client{}}
	defer e.close()

	res := Result{LeaseTTLMs: cluster.Ms(o.LeaseTTL)}
	kills, err := e.kill9(ctx)
	if err != nil {
		return res, err
	}
	res.Kill9FirstWrite = summarize(kills)
	restarts, err := e.restarts(ctx)
	if err != nil {
		return res, err
	}
	res.RestartFirstWrite = summarize(restarts)
	return res, nil
}

func (e *env) close() {
	for _, k := range e.kids {
		k.kill()
		k.log.Close()
	}
	for _, c := range e.client {
		c.Close()
	}
}

func (e *env) newChild(clusterName, id string) (*child, error) {
	rpc, err := embedetcd.FreeAddr()
	if err != nil {
		return nil, err
	}
	web, err := embedetcd.FreeAddr()
	if err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(e.dir, clusterName+"-"+id+".log"))
	if err != nil {
		return nil, err
	}
	k := &child{id: id, clusterName: clusterName, log: f, args: []string{"serve",
		"--cluster", clusterName, "--node-id", id, "--listen", rpc, "--http-listen", web,
		"--data-dir", filepath.Join(e.dir, clusterName+"-"+id), "--etcd-endpoints", e.etcd.Endpoint(),
		"--election-lease-ttl", e.o.LeaseTTL.String(), "--log-level", "warn"}}
	e.kids = append(e.kids, k)
	return k, k.start(e.o.Binary)
}

func (e *env) clientOf(ctx context.Context, clusterName string) (*client.Client, error) {
	if c, ok := e.client[clusterName]; ok {
		return c, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.New(cctx, client.Config{Endpoints: []string{e.etcd.Endpoint()}, Cluster: clusterName})
	if err != nil {
		return nil, err
	}
	e.client[clusterName] = c
	return c, nil
}

// firstWrite creates path, retrying (the client follows the primary), and
// returns when it was acknowledged.
func (e *env) firstWrite(ctx context.Context, clusterName, path string) (time.Time, error) {
	c, err := e.clientOf(ctx, clusterName)
	if err != nil {
		return time.Time{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, 3*e.o.LeaseTTL)
	defer cancel()
	for {
		err := c.Create(wctx, path)
		if err == nil {
			return time.Now(), nil
		}
		if wctx.Err() != nil {
			return time.Time{}, fmt.Errorf("create %s in cluster %s: %w", path, clusterName, err)
		}
	}
}

// waitStandbys waits until every member of clusterName but the primary is a
// caught-up standby, and returns the primary's node_id.
func (e *env) waitStandbys(ctx context.Context, clusterName string, members int) (string, error) {
	c, err := e.etcd.Client()
	if err != nil {
		return "", err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		st, err := ctl.Status(wctx, c, clusterName)
		if err == nil && st.Primary != "" && len(st.Members) == members {
			ready := true
			for _, m := range st.Members {
				if m.NodeID != st.Primary && (m.Role != cluster.RoleStandby || m.LagEntries > 0) {
					ready = false
				}
			}
			if ready {
				return st.Primary, nil
			}
		}
		select {
		case <-wctx.Done():
			return "", fmt.Errorf("cluster %s: no primary with %d caught-up members within 60 s (last: %+v, %v)", clusterName, members, st, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (e *env) kill9(ctx context.Context) ([]time.Duration, error) {
	const name = "crash"
	byID := map[string]*child{}
	for _, id := range []string{"n1", "n2"} {
		k, err := e.newChild(name, id)
		if err != nil {
			return nil, err
		}
		byID[id] = k
	}
	if _, err := e.firstWrite(ctx, name, "/warmup"); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range e.o.Crashes {
		p, err := e.waitStandbys(ctx, name, 2)
		if err != nil {
			return out, err
		}
		k := byID[p]
		if k == nil {
			return out, fmt.Errorf("primary %q is not one of this bench's masters", p)
		}
		killed := time.Now()
		k.kill()
		at, err := e.firstWrite(ctx, name, fmt.Sprintf("/kill9-%d", i))
		if err != nil {
			return out, err
		}
		d := at.Sub(killed)
		out = append(out, d)
		fmt.Fprintf(e.o.Progress, "bench crash: kill -9 %d/%d of %s: first acknowledged create after %v\n", i+1, e.o.Crashes, p, d.Round(time.Millisecond))
		if err := k.start(e.o.Binary); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (e *env) restarts(ctx context.Context) ([]time.Duration, error) {
	const name = "restart"
	k, err := e.newChild(name, "n1")
	if err != nil {
		return nil, err
	}
	if _, err := e.firstWrite(ctx, name, "/warmup"); err != nil {
		return nil, err
	}
	var out []time.Duration
	for i := range e.o.Restarts {
		k.kill()
		started := time.Now()
		if err := k.start(e.o.Binary); err != nil {
			return out, err
		}
		at, err := e.firstWrite(ctx, name, fmt.Sprintf("/restart-%d", i))
		if err != nil {
			return out, err
		}
		d := at.Sub(started)
		out = append(out, d)
		fmt.Fprintf(e.o.Progress, "bench crash: lone restart %d/%d: first acknowledged create %v after the process started\n", i+1, e.o.Restarts, d.Round(time.Millisecond))
	}
	if len(out) == 0 {
		return nil, errors.New("no restart measured")
	}
	return out, nil
}
