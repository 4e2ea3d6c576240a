package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gfsha/master/client"
)

// walPrefix is the log's key prefix in etcd for the cluster "default".
const walPrefix = "/gfsha/default/wal"

// addMasterWith is AddMaster with extra flags for `master serve` (they come
// last, so they win over AddMaster's own).
func (c *Cluster) addMasterWith(id string, extra ...string) *Master {
	c.t.Helper()
	m := &Master{ID: id, RPC: freeAddr(c.t), HTTP: freeAddr(c.t)}
	args := []string{"serve",
		"--cluster", "default",
		"--node-id", id,
		"--listen", m.RPC,
		"--http-listen", m.HTTP,
		"--data-dir", c.dataDir(id),
		"--etcd-endpoints", c.EtcdEP,
		"--election-lease-ttl", leaseTTL,
		"--log-level", "info",
	}
	m.Process = newProcess(c.Dir, id, bins.master, append(args, extra...)...)
	c.procs = append(c.procs, m.Process)
	c.Masters = append(c.Masters, m)
	c.StartMaster(m)
	return m
}

// dataDir is the --data-dir of the master named id (AddMaster's and
// addMasterWith's); it does not exist until the master starts.
func (c *Cluster) dataDir(id string) string { return filepath.Join(c.Dir, id+".data") }

// checkpointReport is `master ctl checkpoint -o json`.
type checkpointReport struct {
	Index      uint64            `json:"index"`
	FirstIndex uint64            `json:"first_index"`
	Members    map[string]uint64 `json:"members"`
}

// CtlCheckpoint waits until every running master has applied what the
// primary has, runs `master ctl checkpoint -o json`, parses it and checks
// that every running master wrote a checkpoint at that index. Callers make
// no writes meanwhile. (Each member checkpoints what it has applied when
// asked; a standby still replaying would checkpoint, and so let the log be
// trimmed, only below that.)
func (c *Cluster) CtlCheckpoint() checkpointReport {
	c.t.Helper()
	head := c.WaitAllCaughtUp(30 * time.Second)
	r := c.Ctl("checkpoint", "-o", "json")
	if r.Code != 0 {
		c.t.Fatalf("ctl checkpoint: %s", r)
	}
	var rep checkpointReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		c.t.Fatalf("ctl checkpoint -o json: %v: %q", err, r.Stdout)
	}
	for _, m := range c.Masters {
		if m.Running() && rep.Members[m.ID] != head {
			c.t.Fatalf("ctl checkpoint -o json = %s; want a checkpoint at %d, the applied index, for %s", r.Stdout, head, m.ID)
		}
	}
	if rep.Index == 0 || rep.FirstIndex == 0 {
		c.t.Fatalf("ctl checkpoint -o json = %s; want index and first_index above 0", r.Stdout)
	}
	return rep
}

// etcdctl runs the etcd project's etcdctl against this cluster's etcd.
func (c *Cluster) etcdctl(args ...string) string {
	c.t.Helper()
	r := run(c.t, 20*time.Second, c.Dir, bins.etcdctl, append([]string{"--endpoints", c.EtcdEP}, args...)...)
	if r.Code != 0 {
		c.t.Fatalf("etcdctl %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// walFirst is the log's first index as etcd holds it (key wal/first,
// 20-digit decimal); 1 when the key is absent (never trimmed).
func (c *Cluster) walFirst() uint64 {
	c.t.Helper()
	out := strings.TrimSpace(c.etcdctl("get", walPrefix+"/first", "--print-value-only"))
	if out == "" {
		return 1
	}
	if len(out) != 20 {
		c.t.Fatalf("etcd %s/first = %q; want 20 decimal digits", walPrefix, out)
	}
	v, err := strconv.ParseUint(out, 10, 64)
	if err != nil {
		c.t.Fatalf("etcd %s/first = %q: %v", walPrefix, out, err)
	}
	return v
}

// walBatches is the first index of every log batch in etcd (keys
// wal/b/<first index>), ascending.
func (c *Cluster) walBatches() []uint64 {
	c.t.Helper()
	out := c.etcdctl("get", walPrefix+"/b/", "--prefix", "--keys-only")
	var firsts []uint64
	for _, line := range strings.Split(out, "\n") {
		k, ok := strings.CutPrefix(strings.TrimSpace(line), walPrefix+"/b/")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			c.t.Fatalf("etcd log batch key %q: %v", line, err)
		}
		firsts = append(firsts, v)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	return firsts
}

// checkTrimmed checks that etcd holds the log from first on and nothing
// below it: the key wal/first says first, and of the batches listed before
// the trim, those below first are gone. It fails if none was below first,
// since then the trim removed nothing.
func (c *Cluster) checkTrimmed(before []uint64, first uint64) {
	c.t.Helper()
	if got := c.walFirst(); got != first {
		c.t.Fatalf("etcd %s/first = %d; want %d, the first_index ctl checkpoint reported", walPrefix, got, first)
	}
	var below []uint64
	for _, b := range before {
		if b < first {
			below = append(below, b)
		}
	}
	if len(below) == 0 || below[0] != 1 {
		c.t.Fatalf("before the trim etcd held batches starting at %v; want the batch at 1 and others below %d", before, first)
	}
	after := c.walBatches()
	if len(after) > 0 && after[0] < first {
		c.t.Fatalf("after the trim etcd still holds log batches starting at %v; want none below %d", after, first)
	}
	c.t.Logf("log trimmed below %d: %d batches removed from etcd, %d left", first, len(below), len(after))
}

// sinceLastStart is what m wrote to stderr since it was last started.
func sinceLastStart(m *Master) string {
	s := m.Stderr()
	if i := strings.LastIndex(s, "=== e2e: start "); i >= 0 {
		return s[i:]
	}
	return s
}

// checkpointFiles lists the files in m's checkpoint directory, by name.
func (c *Cluster) checkpointFiles(id string) []string {
	c.t.Helper()
	ents, err := os.ReadDir(filepath.Join(c.dataDir(id), "checkpoints"))
	if err != nil {
		c.t.Fatalf("%s's checkpoints: %v", id, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// checkpointPath is the file of m's checkpoint at index.
func (c *Cluster) checkpointPath(id string, index uint64) string {
	return filepath.Join(c.dataDir(id), "checkpoints", fmt.Sprintf("ckpt-%020d.snap", index))
}

// corruptMiddle flips 16 bytes in the middle of the file at path.
func corruptMiddle(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("corrupt: %v", err)
	}
	if len(b) < 64 {
		t.Fatalf("corrupt %s: only %d bytes", path, len(b))
	}
	mid := len(b) / 2
	for i := mid; i < mid+16; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatalf("corrupt: %v", err)
	}
	t.Logf("flipped bytes %d..%d of %s (%d bytes)", mid, mid+15, filepath.Base(path), len(b))
}

// WaitCaughtUp waits until m's /status reports applied_index at least index
// and returns that status.
func (c *Cluster) WaitCaughtUp(m *Master, index uint64, bound time.Duration) memberStatus {
	c.t.Helper()
	var last memberStatus
	var lastErr error
	err := poll(c.t.Context(), bound, func() bool {
		last, lastErr = c.Status(m)
		return lastErr == nil && last.AppliedIndex >= index
	})
	if err != nil {
		c.t.Fatalf("%s: applied index %d %v; last /status %+v (err %v)", m.ID, index, err, last, lastErr)
	}
	return last
}

// WaitAllCaughtUp finds the primary among the running masters and waits
// until every other running master has applied as much as it has. It
// returns that index.
func (c *Cluster) WaitAllCaughtUp(bound time.Duration) uint64 {
	c.t.Helper()
	p := c.WaitPrimary(bound, "")
	st, err := c.Status(p)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, m := range c.Masters {
		if m != p && m.Running() {
			c.WaitCaughtUp(m, st.AppliedIndex, bound)
		}
	}
	return st.AppliedIndex
}

// fileSet is every file a test created and had acknowledged.
type fileSet struct {
	dirs  []string
	paths []string
}

// createConcurrency is how many creates a fileSet keeps in flight; the
// client batches concurrent creates into one log batch.
const createConcurrency = 16

// create makes directory dir and n files in it through cl, concurrently.
// Nothing fails the cluster meanwhile, so any error fails the test.
func (fs *fileSet) create(t *testing.T, cl *client.Client, dir string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := cl.Mkdir(ctx, dir); err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	fs.dirs = append(fs.dirs, dir)
	next := make(chan string)
	errs := make(chan error, createConcurrency)
	var wg sync.WaitGroup
	for range createConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				if err := cl.Create(ctx, p); err != nil {
					errs <- fmt.Errorf("create %s: %w", p, err)
					return
				}
			}
		}()
	}
	start := time.Now()
	var sent []string
feed:
	for i := range n {
		p := fmt.Sprintf("%s/f%04d", dir, i)
		select {
		case next <- p:
			sent = append(sent, p)
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("creating %d files in %s: %v", n, dir, err)
	default:
	}
	fs.paths = append(fs.paths, sent...)
	t.Logf("created %d files in %s in %v", n, dir, time.Since(start).Round(time.Millisecond))
}

// checkPresent lists every directory through cl (on whoever is primary) and
// fails the test unless the files there are exactly the acknowledged ones.
func (fs *fileSet) checkPresent(t *testing.T, cl *client.Client, on string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	present := map[string]bool{}
	for _, d := range fs.dirs {
		es, err := cl.List(ctx, d)
		if err != nil {
			t.Fatalf("list %s on %s: %v", d, on, err)
		}
		for _, e := range es {
			present[path.Join(d, e.Name)] = true
		}
	}
	var missing []string
	for _, p := range fs.paths {
		if !present[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged files are missing on %s, e.g. %v", len(missing), len(fs.paths), on, missing[:min(len(missing), 10)])
	}
	if len(present) != len(fs.paths) {
		t.Fatalf("%s lists %d files; want the %d acknowledged ones", on, len(present), len(fs.paths))
	}
	t.Logf("all %d acknowledged files present on %s", len(fs.paths), on)
}

// newest is the highest checkpoint index any member published.
func newest(st ctlStatus) uint64 {
	var n uint64
	for _, m := range st.Members {
		n = max(n, m.CheckpointIndex)
	}
	return n
}

// logged reports whether a line of log (slog's text format) has message
// msg and the attribute index=index.
func logged(log, msg string, index uint64) bool {
	re := regexp.MustCompile(`(?m)msg="` + regexp.QuoteMeta(msg) + `".* index=` + strconv.FormatUint(index, 10) + `( |$)`)
	return re.MatchString(log)
}
