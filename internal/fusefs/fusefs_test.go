package fusefs_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/chunkmaster"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/devcluster"
	"github.com/gfsha/master/internal/fusefs"
)

var bench = flag.Bool("fusefs.bench", false, "run the heavy mount tests (100 MiB) and the throughput benchmarks with their figures")

// needs skips the test when a program is missing, naming its Debian package.
func needs(t testing.TB, prog, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		t.Skipf("%s not found: install Debian's %s", prog, pkg)
	}
}

func needFuse(t testing.TB) {
	t.Helper()
	needs(t, "fusermount3", "fuse3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("/dev/fuse is missing: %v (FUSE needs the fuse kernel module)", err)
	}
}

// cluster starts one master (or masters) and three chunkservers.
func cluster(t testing.TB, masters int, chunkSize int64, dir string) (*devcluster.Cluster, *client.Client) {
	t.Helper()
	cfg := config.Config{Cluster: "test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"}
	cfg.Etcd.Endpoints = []string{"127.0.0.1:0"}
	cfg.Etcd.DialTimeout = 5 * time.Second
	cfg.Election.LeaseTTL = 10 * time.Second
	cfg.Chunk.Replication = 3
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if dir == "" {
		dir = t.TempDir()
	}
	dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: masters, Logger: slog.New(slog.DiscardHandler),
		Dir: dir, NoFsync: true, Chunkservers: 3, Chunk: chunkmaster.Config{ChunkSize: chunkSize}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	dc.WaitStable(t)
	c, err := client.New(ctx, client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return dc, c
}

// mount mounts c's namespace on a fresh directory, unmounted in Cleanup
// whatever happens (lazily, so a failed test never leaves a busy mount).
func mount(t testing.TB, c *client.Client) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := fusefs.New(ctx, c, dir, 20*time.Second, fusefs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
			exec.Command("fusermount3", "-u", "-z", dir).Run()
		}
	})
	return dir
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func randomFile(t testing.TB, path string, size int, seed uint64) {
	t.Helper()
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha(t testing.TB, path string) string {
	t.Helper()
	f := run(t, "sha256sum", path)
	return strings.Fields(f)[0]
}

// TestMountPrograms drives the mount with cp, sha256sum, tar, diff -r,
// find, mv and rm.
func TestMountPrograms(t *testing.T) {
	needFuse(t)
	_, c := cluster(t, 1, 1<<20, "")
	mnt := mount(t, c)
	src := t.TempDir()

	size := 8 << 20 // the default run stays short under -race
	if *bench {
		size = 100 << 20
	}
	big := filepath.Join(src, "big")
	randomFile(t, big, size+12345, 1)
	run(t, "cp", big, filepath.Join(mnt, "big"))
	if got, want := sha(t, filepath.Join(mnt, "big")), sha(t, big); got != want {
		t.Fatalf("sha256 through the mount = %s; want %s", got, want)
	}
	st, err := os.Stat(filepath.Join(mnt, "big"))
	if err != nil || st.Size() != int64(size+12345) || st.Mode().Perm() != 0o644 || time.Since(st.ModTime()) > time.Hour {
		t.Fatalf("stat big = %v, %v; want size %d, mode 0644, a recent mtime", st, err, size+12345)
	}

	// A tree: tar it in, diff it back.
	tree := filepath.Join(src, "tree")
	for i, d := range []string{"a", "a/b", "a/b/c", "d"} {
		os.MkdirAll(filepath.Join(tree, d), 0o755)
		for j := range 3 {
			randomFile(t, filepath.Join(tree, d, "f"+string(rune('0'+j))), (i*3+j)*7919, uint64(10+i*3+j))
		}
	}
	run(t, "sh", "-c", "tar -C "+src+" -cf - tree | tar -C "+mnt+" -xf -")
	run(t, "diff", "-r", tree, filepath.Join(mnt, "tree"))

	found := run(t, "find", filepath.Join(mnt, "tree"), "-type", "f")
	if n := strings.Count(found, "\n"); n != 12 {
		t.Fatalf("find -type f found %d files; want 12:\n%s", n, found)
	}

	// mv, rm, rmdir.
	run(t, "mv", filepath.Join(mnt, "tree", "d"), filepath.Join(mnt, "tree", "a", "moved"))
	if _, err := os.Stat(filepath.Join(mnt, "tree", "a", "moved", "f1")); err != nil {
		t.Fatalf("after mv: %v", err)
	}
	run(t, "rm", "-r", filepath.Join(mnt, "tree"))
	if es, err := os.ReadDir(mnt); err != nil || len(es) != 1 || es[0].Name() != "big" {
		t.Fatalf("ReadDir(mount) after rm -r = %v, %v; want only big", es, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := c.Stat(ctx, "/tree"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Stat(/tree) = %v; want not found", err)
	}
	// cp over an existing file replaces it.
	small := filepath.Join(src, "small")
	randomFile(t, small, 1000, 99)
	run(t, "cp", small, filepath.Join(mnt, "big"))
	if got, want := sha(t, filepath.Join(mnt, "big")), sha(t, small); got != want {
		t.Fatalf("after cp over big: sha256 = %s; want %s", got, want)
	}
}

// TestMountErrnos checks what GFS cannot do fails with the documented errno.
func TestMountErrnos(t *testing.T) {
	needFuse(t)
	_, c := cluster(t, 1, 1<<20, "")
	mnt := mount(t, c)
	f := filepath.Join(mnt, "f")
	if err := os.WriteFile(f, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(f); err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	tests := []struct {
		name string
		do   func() error
		want syscall.Errno
	}{
		{"random overwrite", func() error {
			h, err := os.OpenFile(f, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer h.Close()
			_, err = h.WriteAt([]byte("x"), 1)
			return err
		}, syscall.EOPNOTSUPP},
		{"hard link", func() error { return os.Link(f, f+"2") }, syscall.EPERM},
		{"symlink", func() error { return os.Symlink("f", f+"3") }, syscall.EOPNOTSUPP},
		{"chmod", func() error { return os.Chmod(f, 0o600) }, syscall.EPERM},
		{"truncate", func() error { return os.Truncate(f, 2) }, syscall.EOPNOTSUPP},
		{"rmdir non-empty", func() error {
			os.Mkdir(filepath.Join(mnt, "d"), 0o755)
			os.WriteFile(filepath.Join(mnt, "d", "x"), nil, 0o644)
			return syscall.Rmdir(filepath.Join(mnt, "d"))
		}, syscall.ENOTEMPTY},
		{"mkdir existing", func() error { return os.Mkdir(f, 0o755) }, syscall.EEXIST},
		{"missing", func() error { _, err := os.Stat(filepath.Join(mnt, "nope")); return err }, syscall.ENOENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("%s = %v; want %v", tt.name, err, tt.want)
			}
		})
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Errorf("chmod to the mode it has = %v; want success", err)
	}
	if err := os.Chtimes(f, time.Now(), time.Now()); err != nil {
		t.Errorf("utimes = %v; want success (accepted, ignored)", err)
	}
}

// TestMountRsync copies a tree in with rsync -a and checks it.
func TestMountRsync(t *testing.T) {
	needFuse(t)
	needs(t, "rsync", "rsync")
	_, c := cluster(t, 1, 1<<20, "")
	mnt := mount(t, c)
	src := t.TempDir()
	for i, d := range []string{"x", "x/y"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
		for j := range 3 {
			randomFile(t, filepath.Join(src, d, "r"+string(rune('0'+j))), (i*3+j)*30011+1, uint64(100+i*3+j))
		}
	}
	run(t, "rsync", "-a", src+"/", filepath.Join(mnt, "copy")+"/")
	run(t, "diff", "-r", src, filepath.Join(mnt, "copy"))
	// A second run updates changed files (rsync's temp file renamed over
	// the old one).
	randomFile(t, filepath.Join(src, "x", "r0"), 5555, 7)
	os.Chtimes(filepath.Join(src, "x", "r0"), time.Now().Add(time.Hour), time.Now().Add(time.Hour))
	run(t, "rsync", "-a", src+"/", filepath.Join(mnt, "copy")+"/")
	run(t, "diff", "-r", src, filepath.Join(mnt, "copy"))
}

// TestMountAppend: eight shells append lines with >> at once; each line is
// one record, present exactly once.
func TestMountAppend(t *testing.T) {
	needFuse(t)
	_, c := cluster(t, 1, 256<<10, "")
	mnt := mount(t, c)
	f := filepath.Join(mnt, "log")
	run(t, "touch", f)
	const procs, each = 8, 10
	errs := make(chan error, procs)
	for p := range procs {
		go func() {
			script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do echo \"proc %d line $i\" >> %s || exit 1; i=$((i+1)); done", each, p, f)
			out, err := exec.Command("sh", "-c", script).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%v: %s", err, out)
			}
			errs <- err
		}()
	}
	for range procs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	got := map[string]int{}
	if err := c.ScanRecords(ctx, "/log", func(r client.Record) error { got[string(r.Data)]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for p := range procs {
		for i := range each {
			if line := fmt.Sprintf("proc %d line %d\n", p, i); got[line] != 1 {
				t.Errorf("%q read %d times; want 1", line, got[line])
			}
		}
	}
	if len(got) != procs*each {
		t.Errorf("%d distinct records; want %d", len(got), procs*each)
	}
}

// TestMountAcrossFailover: a read and a write through the mount go on
// across a failover (the primary's lease revoked midway), with no error
// and the right bytes.
func TestMountAcrossFailover(t *testing.T) {
	needFuse(t)
	dc, c := cluster(t, 2, 1<<20, "")
	mnt := mount(t, c)
	src := t.TempDir()
	const size = 6 << 20
	randomFile(t, filepath.Join(src, "in"), size, 5)
	want, err := os.ReadFile(filepath.Join(src, "in"))
	if err != nil {
		t.Fatal(err)
	}
	run(t, "cp", filepath.Join(src, "in"), filepath.Join(mnt, "in"))

	r, err := os.Open(filepath.Join(mnt, "in"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.Create(filepath.Join(mnt, "out"))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, size)
	buf := make([]byte, 1<<20)
	step := func() {
		n, err := io.ReadFull(r, buf)
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatalf("read at %d: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
		if _, err := w.Write(buf[:n]); err != nil {
			t.Fatalf("write at %d: %v", len(got), err)
		}
	}
	for range 4 {
		step()
	}
	// A child forked meanwhile inherits the open descriptors and drops them
	// at exec; the kernel flushes the file then: that must not end the write.
	run(t, "true")
	old := dc.Primary()
	lease, _ := strconv.ParseInt(old.Node.Status().LeaseID, 16, 64)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := dc.Masters[0].Etcd().Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	for len(got) < size {
		step()
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close of the file written across the failover: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the bytes read across the failover differ from the file's")
	}
	if h1, h2 := sha(t, filepath.Join(mnt, "out")), sha(t, filepath.Join(src, "in")); h1 != h2 {
		t.Fatalf("sha256 of the file written across the failover = %s; want %s", h1, h2)
	}
	if p := dc.Primary(); p == nil || p == old {
		t.Fatalf("no failover happened (primary %v)", p)
	}
}

// TestMountUnreachable: a mount whose cluster does not answer fails at once
// with one clear error.
func TestMountUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := client.New(ctx, client.Config{Endpoints: []string{"127.0.0.1:1"}, Cluster: "nowhere", DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = fusefs.New(ctx, c, t.TempDir(), time.Second, fusefs.Options{})
	if !errors.Is(err, fusefs.ErrUnreachable) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("New(unreachable) = %v; want one line wrapping ErrUnreachable", err)
	}
}
