package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/client"
)

// workload is the suite's clients: Groups groups of Workers workers. A
// group works in a fresh top-level directory every epoch ("/g<group>.<epoch>",
// made by whichever of its workers gets there first), each worker doing
// EpochOps random operations on a handful of paths inside it, concurrently
// with the group's other workers, through the shared clients. Workers move
// on to the next epoch on their own, so that one slow operation (a Put
// waiting for a chunk lease after a failover) holds up no other worker.
// Reads go to the primary through the client package, or, one in three,
// straight to a random master's RPC: every member, shadows included,
// answers them linearizably or refuses them, and porcupine checks both.
type workload struct {
	s    *faultSuite
	stop chan struct{}
	once sync.Once // guards closing stop
	wg   sync.WaitGroup

	ops, acked, ambiguous, dropped, epochs atomic.Int64
}

// startWorkload starts the workers; Stop ends them.
func (s *faultSuite) startWorkload() *workload {
	w := &workload{s: s, stop: make(chan struct{})}
	for g := range s.cfg.Groups {
		for k := range s.cfg.Workers {
			cl := s.clients[(g*s.cfg.Workers+k)%len(s.clients)]
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				for epoch := 0; !w.stopped(); epoch++ {
					root := fmt.Sprintf("/g%d.%d", g, epoch)
					if !w.mkdirRoot(cl, root, k, w.stop) {
						continue // stopped, or no answer for long: the checks after the run will say
					}
					if k == 0 {
						w.epochs.Add(1)
					}
					rng := rand.New(rand.NewPCG(s.seed, uint64(g)<<40|uint64(k)<<32|uint64(epoch)))
					w.worker(cl, rng, root, g, k)
				}
			}()
		}
	}
	return w
}

// Stop tells the workers to stop after their current operation and waits
// for them, at most bound (operations are bounded by their own timeouts,
// and end at once when the test's context does). It is safe to call twice.
func (w *workload) Stop(bound time.Duration) {
	w.once.Do(func() { close(w.stop) })
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	tm := time.NewTimer(bound)
	defer tm.Stop()
	select {
	case <-done:
	case <-tm.C:
		w.s.t.Errorf("workers still running %v after they were told to stop", bound)
	}
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// mkdirRoot makes a partition's top-level directory, recording every
// attempt, until it is known to exist (true), for at most ten attempts of
// up to 10 s each, or until stop closes.
func (w *workload) mkdirRoot(cl *client.Client, root string, worker int, stop <-chan struct{}) bool {
	for range 10 {
		op := w.exec(cl, worker, nsInput{Part: root, Kind: opMkdir, Path: root}, "", 10*time.Second)
		w.s.hist.add(op)
		if op.Out.Res == resOK || op.Out.Res == resExists {
			return true
		}
		select {
		case <-stop:
			return false
		case <-w.s.t.Context().Done():
			return false
		default:
		}
	}
	return false
}

// worker does EpochOps random operations inside root.
func (w *workload) worker(cl *client.Client, rng *rand.Rand, root string, g, k int) {
	s := w.s
	files := []string{root + "/f0", root + "/f1", root + "/f2", root + "/d0/f0", root + "/d0/f1", root + "/d1/f0"}
	dirs := []string{root + "/d0", root + "/d1"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for i := 0; i < s.cfg.EpochOps && !w.stopped(); i++ {
		in := nsInput{Part: root}
		via := ""
		// Short timeouts make some writes time out during a failover:
		// maybe-applied.
		timeout := []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second, 10 * time.Second}[rng.IntN(5)]
		x := rng.IntN(100)
		if !s.cfg.Data && x >= 74 {
			x = rng.IntN(74)
		}
		switch {
		case x < 18:
			in.Kind, in.Path = opCreate, pick(files)
		case x < 26:
			in.Kind, in.Path = opMkdir, pick(dirs)
		case x < 38:
			in.Kind, in.Path = opDelete, pick(append(files, dirs...))
		case x < 52:
			in.Kind = opRename
			switch y := rng.IntN(20); {
			case y == 0: // into its own subtree: invalid
				in.Path, in.Path2 = root+"/d0", root+"/d0/d9"
			case y < 5:
				in.Path, in.Path2 = pick(dirs), pick(dirs)
			default:
				in.Path, in.Path2 = pick(files), pick(files)
			}
		case x < 64:
			in.Kind, in.Path = opStat, pick(append(files, dirs...))
		case x < 74:
			in.Kind, in.Path = opList, pick([]string{root, root + "/d0", root + "/d1"})
		case x < 87:
			in.Kind, in.Path = opPut, pick(files[:3])
			in.Tag = fmt.Sprintf("g%d.w%d.%d", g, k, w.ops.Load())
			in.Size = 64 + rng.Int64N(200<<10)
			timeout = 15 * time.Second
		default:
			in.Kind, in.Path = opCat, pick(files)
			timeout = 10 * time.Second
		}
		if (in.Kind == opStat || in.Kind == opList) && rng.IntN(3) == 0 {
			via = s.masters[rng.IntN(len(s.masters))].ID
		}
		s.hist.add(w.exec(cl, k, in, via, timeout))
		tm := time.NewTimer(time.Duration(rng.Int64N(int64(s.cfg.Think) + 1)))
		select {
		case <-tm.C:
		case <-w.stop:
			tm.Stop()
		}
	}
}

// exec runs one operation through cl (or, for a read with via set, straight
// on that master's RPC) and returns it as recorded. It runs on any
// goroutine.
func (w *workload) exec(cl *client.Client, worker int, in nsInput, via string, timeout time.Duration) histOp {
	s := w.s
	ctx, cancel := context.WithTimeout(s.t.Context(), timeout)
	defer cancel()
	op := histOp{Worker: worker, In: in, Via: "primary"}
	if via != "" {
		op.Via = via
	}
	op.Call = s.hist.now()
	var err error
	switch in.Kind {
	case opMkdir:
		err = cl.Mkdir(ctx, in.Path)
	case opCreate:
		err = cl.Create(ctx, in.Path)
	case opDelete:
		err = cl.Delete(ctx, in.Path)
	case opRename:
		err = cl.Rename(ctx, in.Path, in.Path2)
	case opPut:
		_, err = cl.Put(ctx, in.Path, bytes.NewReader(putData(in.Tag, in.Size)))
	case opStat:
		if via != "" {
			var e *masterpb.Entry
			if e, err = s.direct[via].Stat(ctx, &masterpb.StatRequest{Path: in.Path}); err == nil {
				op.Out.Dir, op.Out.Size = e.Dir, e.Size
			}
		} else {
			var e client.Entry
			if e, err = cl.Stat(ctx, in.Path); err == nil {
				op.Out.Dir, op.Out.Size = e.Dir, e.Size
			}
		}
	case opList:
		var names []string
		if via != "" {
			var r *masterpb.ListResponse
			if r, err = s.direct[via].List(ctx, &masterpb.StatRequest{Path: in.Path}); err == nil {
				for _, e := range r.Entries {
					names = append(names, entryName(e.Name, e.Dir))
				}
			}
		} else {
			var es []client.Entry
			if es, err = cl.List(ctx, in.Path); err == nil {
				for _, e := range es {
					names = append(names, entryName(e.Name, e.Dir))
				}
			}
		}
		op.Out.Entries = joinEntries(visible(names))
	case opCat:
		var buf bytes.Buffer
		if _, err = cl.Cat(ctx, in.Path, &buf); err == nil {
			op.Out.Tag = tagOf(buf.Bytes())
		}
	}
	op.Return = s.hist.now()
	op.Out.Res = classify(in.Kind, via != "", err)
	if err != nil {
		op.Err = err.Error()
	}
	w.ops.Add(1)
	switch {
	case op.Out.Res == resUnknown && in.Kind.write():
		op.Ambig = true
		w.ambiguous.Add(1)
	case op.Out.Res == resUnknown:
		op.Dropped = true
		w.dropped.Add(1)
	case in.Kind.write():
		w.acked.Add(1)
	}
	return op
}

// classify turns an operation's error into a result: a definite answer, or
// resUnknown (a write that may have been applied, or a read that says
// nothing).
func classify(k nsKind, direct bool, err error) nsResult {
	if err == nil {
		return resOK
	}
	if direct {
		switch status.Code(err) {
		case codes.NotFound:
			return resNotFound
		case codes.FailedPrecondition:
			return resPrecondition
		case codes.InvalidArgument:
			return resInvalid
		}
		return resUnknown // not primary, unreachable, paused: no answer
	}
	switch k {
	case opCat:
		// Cat's sentinels come only from locating the file on the
		// primary (a definite answer at that moment); a failure to read
		// the replicas says nothing: the file may have been deleted, and
		// its chunks collected, after it was located.
		switch {
		case errors.Is(err, client.ErrNotFound):
			return resNotFound
		case errors.Is(err, client.ErrPrecondition):
			return resPrecondition
		case errors.Is(err, client.ErrInvalid):
			return resInvalid
		}
		return resUnknown
	case opPut:
		// Put checks with a Stat, then publishes with a rename that fails
		// if the path appeared meanwhile: both say "exists" for certain.
		// Any other failure may have come after the rename was applied.
		if errors.Is(err, client.ErrExists) {
			return resExists
		}
		return resUnknown
	}
	switch {
	case errors.Is(err, client.ErrNotFound):
		return resNotFound
	case errors.Is(err, client.ErrExists):
		return resExists
	case errors.Is(err, client.ErrPrecondition):
		return resPrecondition
	case errors.Is(err, client.ErrInvalid):
		return resInvalid
	}
	return resUnknown
}

func entryName(name string, dir bool) string {
	if dir {
		return name + "/"
	}
	return name
}

// visible leaves out hidden entries: Put's temporary ".name.put-…" files.
func visible(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

// putData is the content of a put tagged tag: "tag;" repeated, cut at size.
func putData(tag string, size int64) []byte {
	unit := []byte(tag + ";")
	b := bytes.Repeat(unit, int(size)/len(unit)+1)
	return b[:size]
}

// tagOf identifies the data read: the tag that putData would have written
// it from, "" for an empty file, and a "corrupt" tag naming its hash when
// it matches no tag (which the model never accepts).
func tagOf(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if i := bytes.IndexByte(b, ';'); i > 0 {
		if tag := string(b[:i]); bytes.Equal(b, putData(tag, int64(len(b)))) {
			return tag
		}
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("corrupt(%d B, sha256 %s)", len(b), hex.EncodeToString(sum[:8]))
}

// statusHTTP is a client for the masters' and etcd's HTTP endpoints.
func statusHTTP() *http.Client { return &http.Client{Timeout: 2 * time.Second} }

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
