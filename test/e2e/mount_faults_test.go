//go:build faults

package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMountAcrossFaults (issue 14, part 4): cp into the mount and cp out of
// it run across a kill -9 and a SIGSTOP (past the lease TTL) of the
// primary; both finish without an error and with the right bytes. A fault
// that lands inside a chunk allocation makes the writer wait for the old
// primary's chunk lease to run out (chunk.lease, 60 s): a delay, not an
// error. Run with: go test -tags faults -run TestMountAcrossFaults ./test/e2e
func TestMountAcrossFaults(t *testing.T) {
	needMount(t)
	d := startDataCluster(t, 3, "MASTER_CHUNK_SIZE=1MiB")
	mnt, p := d.startMount(t, "faults")
	local, sum := d.makeLocal("m-in", 11, 24<<20)
	if err := exec.Command("cp", local, filepath.Join(mnt, "in")).Run(); err != nil {
		t.Fatalf("cp into the mount: %v", err)
	}
	for _, fault := range []string{"kill -9", "SIGSTOP"} {
		ctx, cancel := context.WithTimeout(t.Context(), 240*time.Second)
		out := filepath.Join(mnt, "out-"+strings.Fields(fault)[0])
		back := filepath.Join(d.Dir, "back-"+strings.Fields(fault)[0])
		var wout, rout strings.Builder
		wcmd := exec.CommandContext(ctx, "cp", local, out)
		rcmd := exec.CommandContext(ctx, "cp", filepath.Join(mnt, "in"), back)
		wcmd.Stderr, rcmd.Stderr = &wout, &rout
		if err := wcmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := rcmd.Start(); err != nil {
			t.Fatal(err)
		}
		before := d.CtlStatus()
		old := d.Master(before.Primary)
		if fault == "kill -9" {
			old.Kill(t)
			d.StartMaster(old)
		} else {
			old.Stop(t)
		}
		d.WaitPrimary(60*time.Second, old.ID)
		if fault == "SIGSTOP" {
			old.Cont(t)
		}
		werr, rerr := wcmd.Wait(), rcmd.Wait()
		cancel()
		if werr != nil || rerr != nil {
			t.Fatalf("across %s of the primary: cp into the mount: %v %s; cp out of it: %v %s; mount's stderr:\n%s",
				fault, werr, wout.String(), rerr, rout.String(), p.Stderr())
		}
		if got := fileSHA(t, out, p); got != sum {
			t.Fatalf("across %s: the file written through the mount has sha256 %s; want %s", fault, got, sum)
		}
		if got := fileSHA(t, back, p); got != sum {
			t.Fatalf("across %s: the file read through the mount has sha256 %s; want %s", fault, got, sum)
		}
	}
	d.unmountWith(t, p, mnt, syscall.SIGINT)
}
