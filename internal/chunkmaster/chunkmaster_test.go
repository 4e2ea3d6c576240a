package chunkmaster_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/chunkserver"
)

// timing turns on the tests' timing assertions, which a loaded machine can
// miss: go test ./internal/chunkmaster -chunkmaster.timing.
var timing = flag.Bool("chunkmaster.timing", false, "also assert how fast things happen (chunkservers re-attach within 1 s of a failover)")

// TestLocationsRebuiltAfterFailover: a file of several chunks is placed on
// three replicas each; after a failover the new primary knows every replica
// again from heartbeats alone (locations are never logged), every
// chunkserver re-attached (within one second of the new primary serving,
// with -chunkmaster.timing), and the file reads back and a new one writes.
func TestLocationsRebuiltAfterFailover(t *testing.T) {
	e := startEnv(t, 2, 3, testChunk())
	data := randData(1, 3<<20+12345) // 4 chunks of 1 MiB
	e.put("/f", data)
	e.cat("/f", data)
	chunks := e.chunksOf("/f")
	if len(chunks) != 4 {
		t.Fatalf("/f has %d chunks; want 4", len(chunks))
	}
	before := e.primary().Chunks.Snapshot()
	for _, c := range chunks {
		if got := before.Replicas[c.Handle]; len(got) != 3 {
			t.Fatalf("chunk %d on %v; want 3 chunkservers", c.Handle, got)
		}
	}

	_, next := e.failover()
	snap := e.waitAttached(3, 30*time.Second)
	for _, cs := range snap.Chunkservers {
		if cs.Token != snap.Token {
			t.Errorf("%s obeys token %d; want the new primary's %d", cs.ID, cs.Token, snap.Token)
		}
		attach := cs.Registered.Sub(snap.ServingAt)
		t.Logf("%s re-attached %v after %s started serving", cs.ID, attach.Round(time.Microsecond), next.Node.ID())
		if *timing && attach > time.Second {
			t.Errorf("%s re-attached %v after the new primary served; want within 1s", cs.ID, attach)
		}
	}
	e.waitFor(30*time.Second, "every replica known again", func() bool {
		s := next.Chunks.Snapshot()
		for _, c := range chunks {
			if len(s.Replicas[c.Handle]) != 3 {
				return false
			}
		}
		return true
	})
	e.cat("/f", data)
	data2 := randData(2, 2<<20)
	e.put("/g", data2)
	e.cat("/g", data2)
	// ListChunkservers: the contract's rows, each obeying the new token.
	r, err := e.cl.Chunkservers(e.ctx(10 * time.Second))
	if err != nil || r.Primary != next.Node.ID() || len(r.Chunkservers) != 3 {
		t.Fatalf("Chunkservers = %+v, %v; want 3 rows from %s", r, err, next.Node.ID())
	}
	for _, cs := range r.Chunkservers {
		if cs.Token != r.Token || cs.Chunks != 6 {
			t.Errorf("row %+v; want token %d and 6 chunks", cs, r.Token)
		}
	}
}

// TestAllocationSpreadsReplicas: with replication 2 on five chunkservers,
// every chunk gets two distinct replicas and the load spreads.
func TestAllocationSpreadsReplicas(t *testing.T) {
	cc := testChunk()
	cc.Replication = 2
	e := startEnv(t, 1, 5, cc)
	data := randData(3, 10<<20)
	e.put("/spread", data)
	snap := e.primary().Chunks.Snapshot()
	for _, c := range e.chunksOf("/spread") {
		if got := snap.Replicas[c.Handle]; len(got) != 2 || got[0] == got[1] {
			t.Fatalf("chunk %d on %v; want 2 distinct chunkservers", c.Handle, got)
		}
	}
	for _, cs := range snap.Chunkservers {
		if cs.Chunks < 2 || cs.Chunks > 6 {
			t.Errorf("%s holds %d of the 20 replicas; want the load spread (2..6 each)", cs.ID, cs.Chunks)
		}
	}
	e.cat("/spread", data)
}

// TestLeaseAdoptedAfterFailover: a lease granted by the old primary is
// reported by its holder and adopted by the new one, which hands out the
// same primary replica at once rather than waiting it out or granting a
// second one.
func TestLeaseAdoptedAfterFailover(t *testing.T) {
	cc := testChunk()
	cc.LeaseDuration = 2 * time.Minute // far longer than the 30 s wait: only adoption explains an answer
	e := startEnv(t, 2, 3, cc)
	if err := e.cl.Create(e.ctx(30*time.Second), "/a"); err != nil {
		t.Fatal(err)
	}
	l, err := e.master(e.primary()).AllocateChunk(e.ctx(30*time.Second), &chunkpb.AllocateRequest{Path: "/a"})
	if err != nil {
		t.Fatal(err)
	}
	_, next := e.failover()
	start := time.Now()
	var l2 *chunkpb.ChunkLease
	e.waitFor(30*time.Second, "the new primary to hand out the adopted lease", func() bool {
		l2, err = e.master(next).GetLease(e.ctx(30*time.Second), &chunkpb.LeaseRequest{Path: "/a", Handle: l.Handle})
		return err == nil
	})
	t.Logf("adopted lease handed out %v after the failover", time.Since(start).Round(time.Millisecond))
	if l2.Primary.GetId() != l.Primary.GetId() || l2.Version != l.Version {
		t.Fatalf("new primary's lease: holder %s version %d; want the adopted %s version %d",
			l2.Primary.GetId(), l2.Version, l.Primary.GetId(), l.Version)
	}
	holders := 0
	for _, cs := range e.css {
		if cs.HasLease(l.Handle) {
			holders++
		}
	}
	if holders != 1 {
		t.Fatalf("%d chunkservers hold a lease on chunk %d; want exactly 1", holders, l.Handle)
	}
	// Writes go on through it.
	if err := writeRaw(e, l2, randData(4, 1000)); err != nil {
		t.Fatalf("write under the adopted lease: %v", err)
	}
}

// writeRaw appends data to the chunk of lease l through its holder.
func writeRaw(e *env, l *chunkpb.ChunkLease, data []byte) error {
	_, cs := e.csByID(l.Primary.GetId())
	info, _ := cs.Store().Get(l.Handle)
	stream, err := e.chunkserver(cs).Write(e.ctx(10 * time.Second))
	if err != nil {
		return err
	}
	if err := stream.Send(&chunkpb.WriteRequest{Handle: l.Handle, Version: l.Version, Offset: info.Size, Length: int64(len(data)), Data: data}); err != nil {
		return err
	}
	_, err = stream.CloseAndRecv()
	return err
}

// TestNoSecondPrimaryWhileAnOldLeaseMayLive: the lease holder is cut off
// from the masters (its heartbeats stop) and the primary fails over. The
// new primary cannot adopt a lease it never hears of, so it must not make
// another replica primary until that lease has expired; then it does, with
// a version bump that makes the cut-off replica stale, and once that one
// reports again its stale replica is deleted.
func TestNoSecondPrimaryWhileAnOldLeaseMayLive(t *testing.T) {
	cc := testChunk()
	cc.LeaseDuration = 2 * time.Second
	e := startEnv(t, 2, 3, cc)
	if err := e.cl.Create(e.ctx(30*time.Second), "/b"); err != nil {
		t.Fatal(err)
	}
	l, err := e.master(e.primary()).AllocateChunk(e.ctx(30*time.Second), &chunkpb.AllocateRequest{Path: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	hi, holder := e.csByID(l.Primary.GetId())
	holder.PauseHeartbeats(true)
	_, next := e.failover()
	var l2 *chunkpb.ChunkLease
	refusals := 0
	e.waitFor(30*time.Second, "a new lease", func() bool {
		live := 0
		for _, cs := range e.css {
			if cs.HasLease(l.Handle) {
				live++
			}
		}
		if live > 1 {
			t.Fatalf("%d chunkservers hold a live lease on chunk %d at once", live, l.Handle)
		}
		l2, err = e.master(next).GetLease(e.ctx(30*time.Second), &chunkpb.LeaseRequest{Path: "/b", Handle: l.Handle})
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("GetLease: %v; want UNAVAILABLE while the old lease may live", err)
			}
			if refusals == 0 {
				t.Logf("new primary refuses for now: %v", status.Convert(err).Message())
			}
			refusals++
			return false
		}
		return true
	})
	if holder.HasLease(l.Handle) {
		t.Fatalf("a new lease went to %s while %s still held the old one", l2.Primary.GetId(), holder.ID())
	}
	if l2.Primary.GetId() == holder.ID() || l2.Version != l.Version+1 {
		t.Fatalf("new lease: holder %s version %d; want another replica than %s at version %d", l2.Primary.GetId(), l2.Version, holder.ID(), l.Version+1)
	}
	if refusals == 0 {
		t.Fatal("the new primary granted at once; it must wait out the unreported lease")
	}
	// The cut-off replica missed the version bump: stale, it is deleted
	// (and a current copy may take its place).
	holder.PauseHeartbeats(false)
	e.waitFor(30*time.Second, "the stale replica deleted", func() bool {
		info, ok := e.css[hi].Store().Get(l.Handle)
		return !ok || info.Version > l.Version
	})
}

// TestDeposedTokenRefusedAcrossRestart: after a failover, a command that
// carries the old primary's token is refused by a chunkserver with an
// error naming both tokens, and still is after the chunkserver restarts.
func TestDeposedTokenRefusedAcrossRestart(t *testing.T) {
	e := startEnv(t, 2, 3, testChunk())
	old, next := e.failover()
	e.waitAttached(3, 30*time.Second)
	oldTok := old.Node.Status().LastPromotion.Token
	newTok := next.Node.Status().Token
	e.waitFor(30*time.Second, "the chunkserver to learn the new token", func() bool { return int64(e.css[0].Token()) == int64(newTok) })
	commands := map[string]func(c chunkpb.ChunkserverClient) error{
		"create": func(c chunkpb.ChunkserverClient) error {
			_, err := c.CreateChunk(e.ctx(30*time.Second), &chunkpb.CreateChunkRequest{Token: oldTok, Handle: 999, Version: 1, MaxSize: 1 << 20})
			return err
		},
		"lease": func(c chunkpb.ChunkserverClient) error {
			_, err := c.GrantLease(e.ctx(30*time.Second), &chunkpb.GrantLeaseRequest{Token: oldTok, Handle: 999, Version: 1, DurationMs: 1000})
			return err
		},
		"delete": func(c chunkpb.ChunkserverClient) error {
			_, err := c.DeleteChunks(e.ctx(30*time.Second), &chunkpb.DeleteChunksRequest{Token: oldTok, Handles: []uint64{1}})
			return err
		},
	}
	check := func(when string) {
		t.Helper()
		for name, cmd := range commands {
			err := cmd(e.chunkserver(e.css[0]))
			msg := status.Convert(err).Message()
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(msg, fmt.Sprintf("token %d", oldTok)) ||
				!strings.Contains(msg, fmt.Sprintf("token %d", newTok)) {
				t.Fatalf("%s: %s with the old token %d: %v; want PERMISSION_DENIED naming tokens %d and %d", when, name, oldTok, err, oldTok, newTok)
			}
			if name == "create" {
				t.Logf("%s: %s", when, msg)
			}
		}
	}
	check("before restart")
	e.stopCS(0)
	e.startCS(0) // refused straight away: the token was persisted, not relearned
	check("after restart")
	if _, ok := e.css[0].Store().Get(999); ok {
		t.Fatal("a refused create left a replica")
	}
}

// TestReReplicationAfterChunkserverLoss: a chunkserver holding replicas
// dies; once it is declared dead, every chunk is copied back up to the
// replication factor from a current replica, and the file reads back.
func TestReReplicationAfterChunkserverLoss(t *testing.T) {
	e := startEnv(t, 1, 4, testChunk())
	data := randData(5, 2<<20+100)
	e.put("/r", data)
	victim := e.primary().Chunks.Snapshot().Replicas[e.chunksOf("/r")[0].Handle][0]
	vi, _ := e.csByID(victim)
	e.stopCS(vi)
	start := time.Now()
	e.waitFor(30*time.Second, "every chunk back at 3 replicas", func() bool {
		snap := e.primary().Chunks.Snapshot()
		for _, c := range e.chunksOf("/r") {
			n := 0
			for id, v := range snap.Versions[c.Handle] {
				if id != victim && v == c.Version {
					n++
				}
			}
			if n < 3 {
				return false
			}
		}
		return true
	})
	t.Logf("re-replicated %d chunks %v after %s stopped", len(e.chunksOf("/r")), time.Since(start).Round(time.Millisecond), victim)
	e.cat("/r", data)
}

// TestGarbageCollection: the replicas of a deleted file's chunks are
// deleted from every chunkserver.
func TestGarbageCollection(t *testing.T) {
	e := startEnv(t, 1, 3, testChunk())
	e.put("/keep", randData(6, 1<<20))
	e.put("/gone", randData(7, 2<<20+1))
	gone := e.chunksOf("/gone")
	keep := e.chunksOf("/keep")
	if err := e.cl.Delete(e.ctx(30*time.Second), "/gone"); err != nil {
		t.Fatal(err)
	}
	e.waitFor(30*time.Second, "the deleted file's replicas gone", func() bool {
		for _, cs := range e.css {
			for _, c := range gone {
				if _, ok := cs.Store().Get(c.Handle); ok {
					return false
				}
			}
		}
		return true
	})
	for _, cs := range e.css {
		for _, c := range keep {
			if _, ok := cs.Store().Get(c.Handle); !ok {
				t.Errorf("%s lost chunk %d of a live file", cs.ID(), c.Handle)
			}
		}
	}
}

// TestCorruptReplicaNotServedAndReReplicated: one replica's data file is
// corrupted on disk. A read of it fails with DATA_LOSS (never corrupt
// bytes); the chunkserver quarantines it and reports; the client reads the
// file from the good replicas; the master copies a good replica back.
func TestCorruptReplicaNotServedAndReReplicated(t *testing.T) {
	e := startEnv(t, 1, 3, testChunk())
	data := randData(8, 1<<20+4096)
	e.put("/c", data)
	c0 := e.chunksOf("/c")[0]
	victim := e.primary().Chunks.Snapshot().Replicas[c0.Handle][0]
	vi, vcs := e.csByID(victim)
	path := filepath.Join(e.dirs[vi], "chunks", fmt.Sprintf("%016x.dat", c0.Handle))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("corrupted!"), 300000)
	f.Close()

	stream, err := e.chunkserver(vcs).Read(e.ctx(30*time.Second), &chunkpb.ReadRequest{Handle: c0.Handle, Version: c0.Version, Length: 1 << 20})
	if err == nil {
		for err == nil {
			_, err = stream.Recv()
		}
	}
	if status.Code(err) != codes.DataLoss {
		t.Fatalf("read of the corrupt replica: %v; want DATA_LOSS", err)
	}
	t.Logf("corrupt replica refused: %v", status.Convert(err).Message())
	for range 3 {
		e.cat("/c", data)
	}
	e.waitFor(30*time.Second, "the corrupt replica replaced by a good copy", func() bool {
		return allAtLeast(e.currentReplicas("/c"), 3)
	})
	for _, cs := range e.css {
		if _, ok := cs.Store().Get(c0.Handle); ok {
			if err := cs.Store().Verify(c0.Handle); err != nil {
				t.Fatalf("%s: replica of chunk %d after repair: %v", cs.ID(), c0.Handle, err)
			}
		}
	}
}

// fullDisk fails writes with ENOSPC once its budget is spent.
type fullDisk struct {
	chunkserver.File
	budget *atomic.Int64
}

func (f fullDisk) WriteAt(p []byte, off int64) (int, error) {
	if f.budget.Add(-int64(len(p))) < 0 {
		return 0, &os.PathError{Op: "write", Path: "chunk", Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// TestFullDiskFailsPutClearly: a chunkserver whose disk is full makes a put
// fail with an error naming it and the cause; nothing appears at the path
// and every file stored before reads back intact.
func TestFullDiskFailsPutClearly(t *testing.T) {
	e := startEnv(t, 1, 3, testChunk())
	var budget atomic.Int64
	budget.Store(1 << 40)
	e.opts[2] = chunkserver.StoreOptions{OpenFile: func(name string, flag int, perm os.FileMode) (chunkserver.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return fullDisk{File: f, budget: &budget}, nil
	}}
	e.restartCS(2)
	before := randData(9, 1<<20+5)
	e.put("/before", before)
	budget.Store(0)
	_, err := e.cl.Put(e.ctx(30*time.Second), "/full", bytes.NewReader(randData(10, 3<<20)))
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "cs3") {
		t.Fatalf("put onto a full chunkserver: %v; want an error naming cs3 and the full disk", err)
	}
	t.Logf("put onto a full disk: %v", err)
	if _, err := e.cl.Stat(e.ctx(30*time.Second), "/full"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Stat(/full) after the failed put: %v; want not found", err)
	}
	es, _ := e.cl.List(e.ctx(30*time.Second), "/")
	if len(es) != 1 {
		t.Fatalf("root holds %+v after the failed put; want only /before", es)
	}
	e.cat("/before", before)
	for _, c := range e.chunksOf("/before") {
		if err := e.css[2].Store().Verify(c.Handle); err != nil {
			t.Fatalf("cs3's replica of chunk %d after its disk filled: %v", c.Handle, err)
		}
	}
}

// TestLeaseOfCutOffHolderSuperseded: the lease holder stops heartbeating
// but lives on. Rather than wait out its long lease, the master bumps the
// version on the other replicas (its secondaries) and grants a new lease;
// the cut-off holder can then no longer complete a write under its old
// lease, since the secondaries refuse the old version.
func TestLeaseOfCutOffHolderSuperseded(t *testing.T) {
	cc := testChunk()
	cc.LeaseDuration = time.Minute
	// The holder's lease is bounded by the master's own (TTL 10 s): the
	// holder must be declared dead well before, for the new lease to be
	// seen to supersede a live one rather than follow an expired one.
	cc.DeadAfter = 2 * time.Second
	e := startEnv(t, 1, 3, cc)
	if err := e.cl.Create(e.ctx(30*time.Second), "/s"); err != nil {
		t.Fatal(err)
	}
	m := e.master(e.primary())
	l, err := m.AllocateChunk(e.ctx(30*time.Second), &chunkpb.AllocateRequest{Path: "/s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeRaw(e, l, []byte("before")); err != nil {
		t.Fatal(err)
	}
	_, holder := e.csByID(l.Primary.GetId())
	holder.PauseHeartbeats(true)
	start := time.Now()
	var l2 *chunkpb.ChunkLease
	oldLive := false
	e.waitFor(30*time.Second, "a lease superseding the cut-off holder's", func() bool {
		live := holder.HasLease(l.Handle) // before the ask: the new lease came while this one lived
		l2, err = m.GetLease(e.ctx(30*time.Second), &chunkpb.LeaseRequest{Path: "/s", Handle: l.Handle})
		oldLive = live
		return err == nil && l2.Primary.GetId() != holder.ID()
	})
	if !oldLive {
		t.Fatalf("the new lease came only after the cut-off holder's lease expired; want it to supersede the live lease")
	}
	t.Logf("new lease %v after the holder went quiet (its own lease had %v left)", time.Since(start).Round(time.Millisecond), time.Minute-time.Since(start))
	if l2.Primary.GetId() == holder.ID() || l2.Version != l.Version+1 {
		t.Fatalf("new lease: holder %s version %d; want another replica at version %d", l2.Primary.GetId(), l2.Version, l.Version+1)
	}
	err = writeRaw(e, l, []byte("after"))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("write under the superseded lease: %v; want FAILED_PRECONDITION from its secondaries", err)
	}
	t.Logf("write under the superseded lease: %v", status.Convert(err).Message())
	if err := writeRaw(e, l2, []byte("after")); err != nil {
		t.Fatalf("write under the new lease: %v", err)
	}
}

// TestHeartbeatRules: a heartbeat under an older token is answered with
// the master's token and not registered; one under a newer token is
// refused (this master is deposed); a second chunkserver with a live one's
// id is refused.
func TestHeartbeatRules(t *testing.T) {
	e := startEnv(t, 1, 1, testChunk())
	p := e.primary()
	tok := p.Node.Status().Token
	m := e.master(p)
	for _, tc := range []struct {
		name     string
		req      *chunkpb.HeartbeatRequest
		wantCode codes.Code
		wantReg  bool
	}{
		{"older token", &chunkpb.HeartbeatRequest{Id: "x1", Address: "127.0.0.1:1", Token: tok - 1, Full: true}, codes.OK, false},
		{"current token", &chunkpb.HeartbeatRequest{Id: "x1", Address: "127.0.0.1:1", Token: tok, Full: true}, codes.OK, true},
		{"newer token", &chunkpb.HeartbeatRequest{Id: "x2", Address: "127.0.0.1:2", Token: tok + 1, Full: true}, codes.PermissionDenied, false},
		{"id of a live chunkserver", &chunkpb.HeartbeatRequest{Id: "cs1", Address: "127.0.0.1:3", Token: tok, Full: true}, codes.AlreadyExists, false},
	} {
		r, err := m.Heartbeat(e.ctx(30*time.Second), tc.req)
		if status.Code(err) != tc.wantCode || (err == nil && (r.Registered != tc.wantReg || r.Token != tok)) {
			t.Errorf("%s: Heartbeat = %v, %v; want code %v, registered %v, token %d", tc.name, r, err, tc.wantCode, tc.wantReg, tok)
		}
		if err != nil {
			t.Logf("%s: %v", tc.name, status.Convert(err).Message())
		}
	}
}

// slowReader hands out its data in pieces, calling pause before each piece
// after the first few, so that a put is still running when the test acts.
type slowReader struct {
	data  []byte
	off   int
	calls int
	pause func(call int)
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	r.calls++
	r.pause(r.calls)
	n := copy(p[:min(len(p), 256<<10)], r.data[r.off:])
	r.off += n
	return n, nil
}

// TestPutAcrossFailover: the primary fails over while a put is half done;
// the put completes (its chunks' leases adopted or re-granted, its
// allocation retried with the same sequence number) and the file reads
// back byte-identical.
func TestPutAcrossFailover(t *testing.T) {
	e := startEnv(t, 2, 3, testChunk())
	data := randData(11, 6<<20+333)
	half := make(chan struct{})
	resume := make(chan struct{})
	r := &slowReader{data: data, pause: func(call int) {
		if call == 13 { // three chunks in
			close(half)
			<-resume
		}
	}}
	done := make(chan error, 1)
	go func() {
		_, err := e.cl.Put(e.ctx(120*time.Second), "/across", r)
		done <- err
	}()
	select {
	case <-half:
	case err := <-done:
		t.Fatalf("put ended before the failover: %v", err)
	}
	e.failover()
	close(resume)
	if err := <-done; err != nil {
		t.Fatalf("put across a failover: %v", err)
	}
	e.cat("/across", data)
}
