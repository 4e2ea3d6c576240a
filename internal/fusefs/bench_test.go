package fusefs_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchFigures measures, in one run on one disk: streaming put and cat
// (the client API `ctl put/cat` use) against a plain cp and a direct read
// of the chunk files; the mount (cp in, cat out) against them; and fio's
// sequential write and read jobs through the mount. Figures only, no
// thresholds: run with
//
//	go test ./internal/fusefs -run TestBenchFigures -fusefs.bench -v
func TestBenchFigures(t *testing.T) {
	if !*bench {
		t.Skip("figures only: run with -fusefs.bench")
	}
	size := 256 << 20
	if s := os.Getenv("FUSEFS_BENCH_MIB"); s != "" {
		fmt.Sscan(s, &size)
		size <<= 20
	}
	dir := t.TempDir()
	_, c := cluster(t, 1, 64<<20, filepath.Join(dir, "cluster"))
	src := filepath.Join(dir, "src")
	randomFile(t, src, size, 42)
	mib := float64(size) / (1 << 20)
	rate := func(d time.Duration) float64 { return mib / d.Seconds() }
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	// Plain cp on the same disk, with and without an fsync of the copy.
	start := time.Now()
	run(t, "cp", src, filepath.Join(dir, "cp.out"))
	cpTime := time.Since(start)
	run(t, "sync", "-f", filepath.Join(dir, "cp.out"))
	cpSyncTime := time.Since(start)

	// Streaming put.
	start = time.Now()
	f, _ := os.Open(src)
	w, err := c.CreateFile(ctx, "/put")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, f); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	putTime := time.Since(start)

	// Streaming cat (best of two), and a direct read of the chunk files of
	// one replica.
	run(t, "sync")
	var catTime time.Duration
	for i := range 2 {
		start = time.Now()
		r, err := c.Open(ctx, "/put")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != int64(size) {
			t.Fatalf("cat = %d, %v", n, err)
		}
		r.Close()
		if d := time.Since(start); i == 0 || d < catTime {
			catTime = d
		}
	}
	chunks, _ := filepath.Glob(filepath.Join(dir, "cluster", "*", "chunks", "*.dat"))
	if len(chunks) == 0 {
		chunks, _ = filepath.Glob(filepath.Join(dir, "cluster", "*", "*", "chunks", "*.dat"))
	}
	perReplica := len(chunks) / 3
	start = time.Now()
	var raw int64
	for _, p := range chunks[:perReplica] {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, f)
		raw += n
		f.Close()
	}
	rawTime := time.Since(start)

	// The mount.
	mnt := mount(t, c)
	start = time.Now()
	run(t, "cp", src, filepath.Join(mnt, "m"))
	mcpTime := time.Since(start)
	start = time.Now()
	run(t, "sh", "-c", "cat "+filepath.Join(mnt, "m")+" > /dev/null")
	mcatTime := time.Since(start)

	t.Logf("size %d MiB, 64 MiB chunks, 3 replicas on one disk (fsync on)", size>>20)
	t.Logf("cp                   %7.1f MiB/s (%v)", rate(cpTime), cpTime.Round(time.Millisecond))
	t.Logf("cp + fsync           %7.1f MiB/s (%v)", rate(cpSyncTime), cpSyncTime.Round(time.Millisecond))
	t.Logf("streaming put        %7.1f MiB/s (%v)  put/cp %.2f  put/(cp+fsync) %.2f", rate(putTime), putTime.Round(time.Millisecond),
		cpTime.Seconds()/putTime.Seconds(), cpSyncTime.Seconds()/putTime.Seconds())
	rawRate := float64(raw) / (1 << 20) / rawTime.Seconds()
	t.Logf("raw chunk-file read  %7.1f MiB/s (%d bytes, %d files)", rawRate, raw, perReplica)
	t.Logf("streaming cat        %7.1f MiB/s  cat/raw %.2f", rate(catTime), rate(catTime)/rawRate)
	t.Logf("mount cp in          %7.1f MiB/s  vs streaming put %.2f", rate(mcpTime), putTime.Seconds()/mcpTime.Seconds())
	t.Logf("mount cat out        %7.1f MiB/s  vs streaming cat %.2f", rate(mcatTime), catTime.Seconds()/mcatTime.Seconds())

	if _, err := exec.LookPath("fio"); err != nil {
		t.Logf("fio not found (Debian's fio): no fio figures")
		return
	}
	for _, job := range []string{"write", "read"} {
		out := run(t, "fio", "--name=seq"+job, "--rw="+job, "--bs=1M", fmt.Sprintf("--size=%dM", size>>20),
			"--directory="+mnt, "--filename=fio.dat", "--ioengine=psync", "--fallocate=none", "--output-format=terse", "--terse-version=3")
		fields := strings.Split(strings.TrimSpace(out), ";")
		// terse v3: field 7 is read bandwidth (KiB/s), 48 is write bandwidth.
		bw := fields[6]
		if job == "write" {
			bw = fields[47]
		}
		var kib float64
		fmt.Sscan(bw, &kib)
		t.Logf("fio seq %-5s bs=1M  %7.1f MiB/s", job, kib/1024)
	}
}
