package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/client"
)

// The data path end to end: real etcd, two `master serve` processes and
// three `master chunkserver` processes.

// dataChunkSize makes a 150 MiB file span ten chunks.
const dataChunkSize = "16MiB"

// dataCluster is a Cluster with chunkservers.
type dataCluster struct {
	*Cluster
	CS []*chunkserverProc
	cl *client.Client
}

// chunkserverProc is one `master chunkserver` process.
type chunkserverProc struct {
	*Process
	ID, Addr, Dir string
}

// startDataCluster starts etcd, masters n1 and n2 (with env, e.g. the chunk
// size, in their environment) and chunkservers cs1..csN, and waits until
// every chunkserver is registered with the primary.
func startDataCluster(t *testing.T, chunkservers int, env ...string) *dataCluster {
	t.Helper()
	d := &dataCluster{Cluster: newCluster(t)}
	d.StartEtcd("")
	for _, id := range []string{"n1", "n2"} {
		d.addDataMaster(id, env)
	}
	d.WaitPrimary(30*time.Second, "")
	for i := range chunkservers {
		d.addChunkserver(fmt.Sprintf("cs%d", i+1))
	}
	d.cl = d.NewClient()
	d.waitChunkservers(chunkservers, 0, 20*time.Second)
	return d
}

// addDataMaster starts `master serve` as AddMaster does, with env added to
// its environment (through env(1): the harness passes none).
func (d *dataCluster) addDataMaster(id string, env []string) *Master {
	d.t.Helper()
	m := &Master{ID: id, RPC: freeAddr(d.t), HTTP: freeAddr(d.t)}
	args := append(append([]string{}, env...), bins.master, "serve",
		"--cluster", "default",
		"--node-id", id,
		"--listen", m.RPC,
		"--http-listen", m.HTTP,
		"--data-dir", filepath.Join(d.Dir, id+".data"),
		"--etcd-endpoints", d.EtcdEP,
		"--election-lease-ttl", leaseTTL,
		"--log-level", "info",
	)
	m.Process = newProcess(d.Dir, id, "/usr/bin/env", args...)
	d.procs = append(d.procs, m.Process)
	d.Masters = append(d.Masters, m)
	d.StartMaster(m)
	return m
}

// addChunkserver starts `master chunkserver` with its own directory.
func (d *dataCluster) addChunkserver(id string) *chunkserverProc {
	d.t.Helper()
	cs := &chunkserverProc{ID: id, Addr: freeAddr(d.t), Dir: filepath.Join(d.Dir, id+".data")}
	cs.Process = newProcess(d.Dir, id, bins.master, "chunkserver",
		"--id", id, "--dir", cs.Dir, "--listen", cs.Addr,
		"--cluster", "default", "--etcd-endpoints", d.EtcdEP, "--log-level", "info")
	d.procs = append(d.procs, cs.Process)
	d.CS = append(d.CS, cs)
	cs.Start(d.t)
	return cs
}

// waitChunkservers waits until the primary lists n chunkservers, all
// obeying its token (above minToken), and returns the listing and when it
// was first seen.
func (d *dataCluster) waitChunkservers(n int, minToken int64, bound time.Duration) (client.Chunkservers, time.Time) {
	d.t.Helper()
	var r client.Chunkservers
	var lastErr error
	err := poll(d.t.Context(), bound, func() bool {
		ctx, cancel := context.WithTimeout(d.t.Context(), 2*time.Second)
		defer cancel()
		r, lastErr = d.cl.Chunkservers(ctx)
		if lastErr != nil || r.Token <= minToken || len(r.Chunkservers) != n {
			return false
		}
		for _, cs := range r.Chunkservers {
			if cs.Token != r.Token {
				return false
			}
		}
		return true
	})
	if err != nil {
		d.t.Fatalf("waiting for %d chunkservers under a token above %d: %v (last listing %+v, error %v)", n, minToken, err, r, lastErr)
	}
	return r, time.Now()
}

// servingAt is when m last became primary, from its /status.
func (d *dataCluster) servingAt(m *Master) (time.Time, int64) {
	d.t.Helper()
	body, code, err := d.get("http://" + m.HTTP + "/status")
	if err != nil || code != 200 {
		d.t.Fatalf("%s /status: %d %v", m.ID, code, err)
	}
	var st struct {
		LastPromotion *struct {
			Token           int64 `json:"token"`
			ServingUnixNano int64 `json:"serving_unix_nano"`
		} `json:"last_promotion"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.LastPromotion == nil {
		d.t.Fatalf("%s /status: %v: %s", m.ID, err, body)
	}
	return time.Unix(0, st.LastPromotion.ServingUnixNano), st.LastPromotion.Token
}

// makeLocal writes size pseudo-random bytes (from seed) to a file in the
// test's directory and returns its path and SHA-256.
func (d *dataCluster) makeLocal(name string, seed uint64, size int) (string, string) {
	d.t.Helper()
	path := filepath.Join(d.Dir, name)
	f, err := os.Create(path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	var s [32]byte
	s[0] = byte(seed)
	r := rand.NewChaCha8(s)
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), r, int64(size)); err != nil {
		d.t.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

// ctlPut runs `master ctl put`.
func (d *dataCluster) ctlPut(local, path string) {
	d.t.Helper()
	r := run(d.t, 2*time.Minute, d.Dir, bins.master, "ctl", "put", local, path, "--etcd-endpoints", d.EtcdEP)
	if r.Code != 0 {
		d.t.Fatalf("ctl put %s %s: %s", local, path, r)
	}
	d.t.Logf("ctl put: %s", strings.TrimSpace(r.Stdout))
}

// ctlCatSum runs `master ctl cat PATH` and returns the SHA-256 of what it
// wrote to stdout.
func (d *dataCluster) ctlCatSum(path string) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.master, "ctl", "cat", path, "--etcd-endpoints", d.EtcdEP)
	cmd.Dir, cmd.Env = d.Dir, childEnv()
	h := sha256.New()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = h, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("ctl cat %s: %v: %s", path, err, stderr.String())
	}
	d.t.Logf("ctl cat %s: %v", path, time.Since(start).Round(time.Millisecond))
	return hex.EncodeToString(h.Sum(nil))
}

// written is a file put into the cluster and the SHA-256 of its bytes.
type written struct{ path, sum string }

// checkAll reads every file back with `ctl cat` and compares.
func (d *dataCluster) checkAll(when string, files []written) {
	d.t.Helper()
	for _, f := range files {
		if got := d.ctlCatSum(f.path); got != f.sum {
			d.t.Fatalf("%s: ctl cat %s: SHA-256 %s; want %s (the bytes put)", when, f.path, got, f.sum)
		}
	}
	d.t.Logf("%s: %d files of 150 MiB read back byte-identical", when, len(files))
}

// checkReattach checks that every chunkserver re-attached to the new
// primary m (within one second of m serving, as m measured it, with
// -e2e.timing), and logs the test's own (upper-bound) observation.
func (d *dataCluster) checkReattach(m *Master, oldToken int64, n int) time.Duration {
	d.t.Helper()
	r, seen := d.waitChunkservers(n, oldToken, 30*time.Second)
	serving, tok := d.servingAt(m)
	if r.Primary != m.ID || r.Token != tok {
		d.t.Fatalf("chunkservers listed by %s under token %d; want %s under %d", r.Primary, r.Token, m.ID, tok)
	}
	var worst float64
	for _, cs := range r.Chunkservers {
		worst = max(worst, cs.AttachedAfterServingMs)
	}
	d.t.Logf("re-attach to %s (token %d): slowest chunkserver %.1f ms after serving (master's clock); all %d seen by the test %v after serving",
		m.ID, tok, worst, n, seen.Sub(serving).Round(time.Millisecond))
	if *timing && worst > 1000 {
		d.t.Fatalf("a chunkserver re-attached %.1f ms after %s served; want within 1000 ms: %+v", worst, m.ID, r.Chunkservers)
	}
	return time.Duration(worst * float64(time.Millisecond))
}

// TestDataPathSurvivesFailures is issue 3's end-to-end proof. Files of
// 150 MiB (ten 16 MiB chunks) are put with `ctl put` and read back
// byte-identical with `ctl cat` before any fault and after each of: `ctl
// failover`, kill -9 of the primary, SIGSTOP of the primary past its lease
// TTL, and kill -9 of a chunkserver. After every master failover each
// chunkserver re-attaches to the new primary (within one second of it
// serving, asserted with -e2e.timing; always logged).
// After the SIGSTOP, the resumed old primary answers a chunk allocation
// that waited in its socket with "not primary" and commands nothing, and a
// chunkserver refuses a command carrying the old primary's token (naming
// both tokens), also after a restart.
func TestDataPathSurvivesFailures(t *testing.T) {
	d := startDataCluster(t, 3, "MASTER_CHUNK_SIZE="+dataChunkSize)
	if r := d.Ctl("mkdir", "/data"); r.Code != 0 {
		t.Fatalf("ctl mkdir: %s", r)
	}
	var files []written
	putNew := func(name string) {
		t.Helper()
		local, sum := d.makeLocal(name, uint64(len(files)+1), 150<<20)
		d.ctlPut(local, "/data/"+name)
		files = append(files, written{"/data/" + name, sum})
		if r := d.Ctl("stat", "/data/"+name, "-o", "json"); r.Code != 0 || !strings.Contains(r.Stdout, `"chunks":10`) {
			t.Fatalf("ctl stat /data/%s: %s; want 10 chunks", name, r)
		}
		os.Remove(local)
	}
	putNew("f0")
	d.checkAll("before any fault", files)

	var attach []time.Duration
	// ctl failover.
	before := d.CtlStatus()
	if r := d.Ctl("failover", "-o", "json"); r.Code != 0 {
		t.Fatalf("ctl failover: %s", r)
	}
	next := d.WaitPrimary(30*time.Second, before.Primary)
	attach = append(attach, d.checkReattach(next, before.Token, 3))
	d.checkAll("after ctl failover", files)
	putNew("f1")
	d.checkAll("after ctl failover, new file", files[1:])

	// kill -9 of the primary.
	before = d.CtlStatus()
	old := d.Master(before.Primary)
	old.Kill(t)
	d.StartMaster(old)
	next = d.WaitPrimary(30*time.Second, old.ID)
	attach = append(attach, d.checkReattach(next, before.Token, 3))
	d.checkAll("after kill -9 of the primary", files)
	putNew("f2")
	d.checkAll("after kill -9 of the primary, new file", files[2:])

	// SIGSTOP of the primary past its TTL; it resumes and tries.
	before = d.CtlStatus()
	old = d.Master(before.Primary)
	if r := d.Ctl("create", "/data/late"); r.Code != 0 {
		t.Fatalf("ctl create: %s", r)
	}
	cc, err := grpc.NewClient(old.RPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	oldCM := chunkpb.NewChunkMasterClient(cc)
	if _, err := oldCM.ListChunkservers(t.Context(), &chunkpb.ListChunkserversRequest{}); err != nil {
		t.Fatalf("%s ListChunkservers: %v", old.ID, err)
	}
	old.Stop(t)
	// SIGSTOP is delivered asynchronously: send the allocation only once
	// every thread is stopped, or the old primary may still (rightly)
	// commit it before it pauses.
	stopCtx, stopCancel := context.WithTimeout(t.Context(), 10*time.Second)
	for !allStopped(old.Pid()) {
		select {
		case <-stopCtx.Done():
			t.Fatalf("%s not stopped 10 s after SIGSTOP", old.ID)
		case <-time.After(time.Millisecond):
		}
	}
	stopCancel()
	late := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		_, err := oldCM.AllocateChunk(ctx, &chunkpb.AllocateRequest{Path: "/data/late"})
		late <- err
	}()
	next = d.WaitPrimary(30*time.Second, old.ID)
	attach = append(attach, d.checkReattach(next, before.Token, 3))
	old.Cont(t)
	select {
	case err = <-late:
	case <-time.After(30 * time.Second):
		t.Fatal("the resumed old primary did not answer the allocation waiting in its socket")
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not primary") {
		t.Fatalf("allocation answered by the resumed old primary %s: %v; want UNAVAILABLE not primary", old.ID, err)
	}
	t.Logf("resumed old primary %s answered the waiting allocation: %v", old.ID, status.Convert(err).Message())
	if st, err := d.cl.Stat(t.Context(), "/data/late"); err != nil || st.Chunks != 0 {
		t.Fatalf("/data/late after the old primary resumed: %+v, %v; want no chunk", st, err)
	}
	d.checkOldTokenRefused(d.CS[0], before.Token, d.CtlStatus().Token)
	d.checkAll("after SIGSTOP of the primary", files)
	putNew("f3")

	// kill -9 of a chunkserver: every file still reads, and writes go on.
	victim := d.CS[2]
	victim.Kill(t)
	d.checkAll("with "+victim.ID+" killed", files)
	putNew("f4")
	d.checkAll("with "+victim.ID+" killed, new file", files[4:])
	victim.Start(t)
	d.waitChunkservers(3, 0, 20*time.Second)
	d.checkAll("after "+victim.ID+" restarted", files[4:])
	t.Logf("re-attach after each master failover (master's clock): %v", attach)
	for _, cs := range d.CS {
		if n := strings.Count(cs.Stderr(), "refused a command from an older primary"); n > 0 {
			t.Logf("%s refused %d commands from an older primary", cs.ID, n)
		}
	}
}

// checkOldTokenRefused sends cs commands under the previous primary's
// token: each is refused naming both tokens, also after cs restarts.
func (d *dataCluster) checkOldTokenRefused(cs *chunkserverProc, oldTok, newTok int64) {
	d.t.Helper()
	try := func(when string) {
		d.t.Helper()
		cc, err := grpc.NewClient(cs.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			d.t.Fatal(err)
		}
		defer cc.Close()
		c := chunkpb.NewChunkserverClient(cc)
		var lastErr error
		// After a restart the chunkserver needs a moment to listen.
		poll(d.t.Context(), 30*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(d.t.Context(), 5*time.Second)
			defer cancel()
			_, lastErr = c.CreateChunk(ctx, &chunkpb.CreateChunkRequest{Token: oldTok, Handle: 1 << 40, Version: 1, MaxSize: 1 << 20})
			return status.Code(lastErr) != codes.Unavailable
		})
		msg := status.Convert(lastErr).Message()
		if status.Code(lastErr) != codes.PermissionDenied || !strings.Contains(msg, fmt.Sprintf("token %d", oldTok)) ||
			!strings.Contains(msg, fmt.Sprintf("token %d", newTok)) {
			d.t.Fatalf("%s: %s given a command under the old token %d: %v; want PERMISSION_DENIED naming tokens %d and %d",
				when, cs.ID, oldTok, lastErr, oldTok, newTok)
		}
		d.t.Logf("%s: %s", when, msg)
	}
	try("old token, chunkserver running")
	cs.Kill(d.t)
	cs.Start(d.t)
	try("old token, chunkserver restarted")
}

// TestChunkserverBadInput: a second chunkserver on a directory in use
// fails at once naming the directory and the holder; `ctl put` of a
// missing local file and `ctl cat` of a missing path fail clearly.
func TestChunkserverBadInput(t *testing.T) {
	d := startDataCluster(t, 1)
	dup := newProcess(d.Dir, "dup", bins.master, "chunkserver", "--id", "cs9", "--dir", d.CS[0].Dir,
		"--listen", freeAddr(t), "--etcd-endpoints", d.EtcdEP)
	d.procs = append(d.procs, dup)
	dup.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code, err := dup.Wait(ctx)
	if err != nil || code != 1 || !strings.Contains(dup.Stderr(), d.CS[0].Dir) || !strings.Contains(dup.Stderr(), "cs1") {
		t.Fatalf("second chunkserver on %s: exit %d, %v; stderr %q; want exit 1 naming the dir and cs1", d.CS[0].Dir, code, err, dup.Stderr())
	}
	t.Logf("second chunkserver on a used dir: %s", lastLine(dup.Stderr()))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"put", filepath.Join(d.Dir, "missing"), "/x"}, "no such file or directory"},
		{[]string{"cat", "/missing"}, "not found"},
	} {
		r := d.Ctl(tc.args...)
		if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("ctl %v: %s; want exit 1 with %q", tc.args, r, tc.want)
		}
		t.Logf("ctl %s: %s", tc.args[0], strings.TrimSpace(r.Stderr))
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
