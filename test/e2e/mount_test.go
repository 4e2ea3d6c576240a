package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `master mount` as a process (issue 14): one clear line when the cluster
// is unreachable; programs reading and writing through the mount across a
// kill -9 and a SIGSTOP of the primary see a delay at most, never an error
// or wrong bytes; SIGINT and SIGTERM unmount cleanly.

func needMount(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("fusermount3 not found: install Debian's fuse3")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("/dev/fuse is missing: %v", err)
	}
}

// mounted says whether dir is a mount point (per /proc/self/mountinfo).
func mounted(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fs := strings.Fields(s.Text()); len(fs) > 4 && fs[4] == dir {
			return true
		}
	}
	return false
}

func fileSHA(t *testing.T, path string, mount *Process) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v; mount's stderr:\n%s", path, err, mount.Stderr())
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestMountUnreachableOneLine(t *testing.T) {
	mnt := t.TempDir()
	r := run(t, 60*time.Second, t.TempDir(), bins.master, "mount", mnt, "--etcd-endpoints", freeAddr(t), "--timeout", "2s")
	if r.Code != 1 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "did not answer") {
		t.Fatalf("mount of an unreachable cluster: %s; want exit 1 and one line saying it did not answer", r)
	}
}

// TestMountSignals: a mount serves, and SIGINT and SIGTERM each unmount it
// cleanly (exit 0, the mount point free).
func TestMountSignals(t *testing.T) {
	needMount(t)
	d := startDataCluster(t, 3, "MASTER_CHUNK_SIZE=1MiB")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		mnt, p := d.startMount(t, sig.String()[:3])
		f := filepath.Join(mnt, "f-"+sig.String()[:3])
		if err := os.WriteFile(f, []byte("hello"), 0o644); err != nil {
			t.Fatalf("write through the mount: %v; mount's stderr:\n%s", err, p.Stderr())
		}
		if b, err := os.ReadFile(f); err != nil || string(b) != "hello" {
			t.Fatalf("read back = %q, %v", b, err)
		}
		d.unmountWith(t, p, mnt, sig)
	}
}

// startMount runs `master mount` on a new directory and waits until it is
// mounted; Cleanup detaches it lazily whatever happened.
func (d *dataCluster) startMount(t *testing.T, name string) (string, *Process) {
	t.Helper()
	mnt := filepath.Join(d.Dir, "mnt-"+name)
	os.MkdirAll(mnt, 0o755)
	p := newProcess(d.Dir, "mount-"+name, bins.master, "mount", mnt, "--etcd-endpoints", d.EtcdEP, "--cluster", "default")
	p.Start(t)
	t.Cleanup(func() {
		if mounted(mnt) {
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
	})
	d.waitFor(30*time.Second, "mount at "+mnt, func() bool { return mounted(mnt) })
	return mnt, p
}

// unmountWith sends sig to the mount process and checks it exits 0 with
// the mount point free.
func (d *dataCluster) unmountWith(t *testing.T, p *Process, mnt string, sig syscall.Signal) {
	t.Helper()
	p.signal(t, sig)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	code, err := p.Wait(ctx)
	cancel()
	if err != nil || code != 0 {
		t.Fatalf("mount after %v: exit %d, %v; stderr:\n%s", sig, code, err, p.Stderr())
	}
	if mounted(mnt) {
		t.Fatalf("%s still mounted after %v", mnt, sig)
	}
}
