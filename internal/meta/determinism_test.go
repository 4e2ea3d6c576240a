package meta

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// step is one log entry of a random history: an op, or raw bytes (which may
// not decode) when raw is set.
type step struct {
	op  Op
	raw []byte
}

func (st step) apply(s *State, index uint64) Result {
	if st.raw != nil {
		return s.ApplyEncoded(index, st.raw)
	}
	return s.Apply(index, st.op)
}

// opGen makes random ops over a small namespace, so that ops often collide:
// creates of existing paths, deletes of non-empty dirs, renames into
// subtrees, versions that go backwards, stale and repeated seqs.
type opGen struct {
	r       *rand.Rand
	handles uint64            // roughly how many chunk handles exist
	seqs    map[string]uint64 // last seq issued per client
}

func newOpGen(seed uint64) *opGen {
	return &opGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), seqs: map[string]uint64{}}
}

var genNames = []string{"a", "b", "c", "d", "e", "f"}

var badPaths = []string{"", "a", "/a/", "/a//b", "/.", "/a/..", "/\x00"}

func (g *opGen) path() string {
	if g.r.IntN(30) == 0 {
		return badPaths[g.r.IntN(len(badPaths))]
	}
	if g.r.IntN(40) == 0 {
		return "/"
	}
	p := ""
	depth := 1
	if k := g.r.IntN(20); k >= 16 {
		depth = 3
	} else if k >= 8 {
		depth = 2
	}
	for ; depth > 0; depth-- {
		p += "/" + genNames[g.r.IntN(len(genNames))]
	}
	return p
}

func (g *opGen) next() step {
	if g.r.IntN(100) == 0 {
		garbage := make([]byte, g.r.IntN(8))
		for i := range garbage {
			garbage[i] = byte(g.r.Uint32())
		}
		return step{raw: garbage}
	}
	var op Op
	switch k := g.r.IntN(100); {
	case k < 3:
		op = Op{Type: OpNoop}
	case k < 18:
		op = Op{Type: OpMkdir, Path: g.path()}
	case k < 33:
		op = Op{Type: OpCreate, Path: g.path()}
	case k < 50:
		op = Op{Type: OpDelete, Path: g.path()}
	case k < 60:
		op = Op{Type: OpRename, Path: g.path(), Path2: g.path()}
	case k < 75:
		op = Op{Type: OpAddChunk, Path: g.path()}
		g.handles++
	case k < 88:
		op = Op{Type: OpSetChunkVersion, Handle: g.r.Uint64N(g.handles/3 + 2), Version: g.r.Uint64N(40)}
	case k < 98:
		op = Op{Type: OpSetSize, Path: g.path(), Size: g.r.Int64N(100) - 5}
	default:
		op = Op{Type: OpType(g.r.IntN(256)), Path: g.path()}
	}
	if g.r.IntN(3) == 0 {
		id := []string{"c1", "c2", "c3", "c4"}[g.r.IntN(4)]
		seq := g.seqs[id]
		switch k := g.r.IntN(10); {
		case k < 6:
			seq++
		case k < 8 || seq == 0: // retry the last one
		default:
			seq -= 1 + g.r.Uint64N(seq)
			if seq > g.seqs[id] {
				seq = 0
			}
		}
		if seq > g.seqs[id] {
			g.seqs[id] = seq
		}
		op.ClientID, op.Seq = id, seq
	}
	if g.r.IntN(2) == 0 {
		return step{raw: op.Marshal()}
	}
	return step{op: op}
}

func history(seed uint64, n int) []step {
	g := newOpGen(seed)
	steps := make([]step, n)
	for i := range steps {
		steps[i] = g.next()
	}
	return steps
}

func sameResult(a, b Result) bool {
	return errCode(a.Err) == errCode(b.Err) && a.Handle == b.Handle && a.Version == b.Version
}

func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		steps := history(seed, 3000)
		a, b := New(), New()
		a.dedup.limit, b.dedup.limit = 3, 3 // exercise eviction too
		var ok, failed int
		for i, st := range steps {
			index := uint64(i + 1)
			ra, rb := st.apply(a, index), st.apply(b, index)
			if !sameResult(ra, rb) {
				t.Fatalf("seed %d step %d: results differ: %+v vs %+v", seed, index, ra, rb)
			}
			if errors.Is(ra.Err, ErrIndex) {
				t.Fatalf("seed %d step %d: %v", seed, index, ra.Err)
			}
			if ra.Err == nil {
				ok++
			} else {
				failed++
			}
			if da, db := a.Digest(), b.Digest(); da != db {
				t.Fatalf("seed %d step %d: digests differ", seed, index)
			}
		}
		if ok < 300 || failed < 300 {
			t.Errorf("seed %d: %d ops succeeded, %d failed; want a good mix of both", seed, ok, failed)
		}
		t.Logf("seed %d: %d ok, %d failed, %d files, %d dirs", seed, ok, failed, a.Files(), a.Dirs())
	}
}

func TestSnapshotMidHistory(t *testing.T) {
	steps := history(7, 3000)
	for _, cut := range []int{0, 1, 500, 1500, 2999} {
		a := New()
		for i, st := range steps[:cut] {
			st.apply(a, uint64(i+1))
		}
		var buf bytes.Buffer
		if err := a.Snapshot(&buf); err != nil {
			t.Fatalf("Snapshot at %d: %v", cut, err)
		}
		// Restore into a state that already holds something else.
		c := New()
		mustApply(t, c, Op{Type: OpMkdir, Path: "/junk"}, Op{Type: OpCreate, Path: "/junk/f", ClientID: "x", Seq: 1})
		if err := c.Restore(&buf); err != nil {
			t.Fatalf("Restore of snapshot at %d: %v", cut, err)
		}
		if c.Digest() != a.Digest() || c.AppliedIndex() != uint64(cut) {
			t.Fatalf("restored state at %d: digest or index (%d) differs", cut, c.AppliedIndex())
		}
		if dump(t, c) != dump(t, a) || c.Files() != a.Files() || c.Dirs() != a.Dirs() {
			t.Fatalf("restored state at %d: tree or counters differ", cut)
		}
		for i := cut; i < len(steps); i++ {
			index := uint64(i + 1)
			ra, rc := steps[i].apply(a, index), steps[i].apply(c, index)
			if !sameResult(ra, rc) {
				t.Fatalf("cut %d step %d: results differ: %+v vs %+v", cut, index, ra, rc)
			}
			if i%50 == 0 && a.Digest() != c.Digest() {
				t.Fatalf("cut %d step %d: digests differ", cut, index)
			}
		}
		if a.Digest() != c.Digest() {
			t.Fatalf("cut %d: final digests differ", cut)
		}
	}
}

// TestOneDifferentOp replaces one effective op of a history by a noop (or
// drops its client id) and checks that the digest differs right after it.
func TestOneDifferentOp(t *testing.T) {
	steps := history(11, 2000)
	a := New()
	var tried int
	for i, st := range steps {
		index := uint64(i + 1)
		var before bytes.Buffer
		if i%7 == 0 {
			if err := a.Snapshot(&before); err != nil {
				t.Fatal(err)
			}
		}
		res := st.apply(a, index)
		op := st.op
		if st.raw != nil {
			var err error
			if op, err = UnmarshalOp(st.raw); err != nil {
				continue
			}
		}
		// An op changes the tree or counters when it succeeds, except
		// set-size (which may set the same size) and noop, and when it is
		// not a replay.
		effective := res.Err == nil && op.Type != OpNoop && op.Type != OpSetSize && op.ClientID == ""
		if before.Len() == 0 || (!effective && op.ClientID == "") {
			continue
		}
		if _, dup := a.Dedup(op.ClientID, op.Seq); op.ClientID != "" && !dup {
			continue // evicted or stale: not recorded
		}
		tried++
		alt := op
		if op.ClientID != "" {
			alt.ClientID = op.ClientID + "x" // same op, another client
		} else {
			alt = Op{Type: OpNoop}
		}
		b := New()
		if err := b.Restore(&before); err != nil {
			t.Fatal(err)
		}
		b.Apply(index, alt)
		if a.Digest() == b.Digest() {
			t.Fatalf("step %d: applying %+v instead of %+v gives the same digest", index, alt, op)
		}
	}
	if tried < 50 {
		t.Errorf("only %d ops compared; want at least 50", tried)
	}
}

func TestCheckAgreesWithApply(t *testing.T) {
	for _, seed := range []uint64{21, 22} {
		g := newOpGen(seed)
		s := New()
		s.dedup.limit = 3
		var compared int
		for i := 0; i < 4000; i++ {
			st := g.next()
			op := st.op
			if st.raw != nil {
				var err error
				if op, err = UnmarshalOp(st.raw); err != nil {
					continue
				}
			}
			remembered, dup := s.Dedup(op.ClientID, op.Seq)
			dup = dup && op.ClientID != "" && len(op.ClientID) <= MaxClientIDLen
			checkErr := s.Check(op)
			res := apply(s, op)
			if dup {
				if checkErr != nil || !sameResult(res, remembered) {
					t.Fatalf("seed %d op %+v (a retry): Check = %v, Apply = %+v; want nil and %+v",
						seed, op, checkErr, res, remembered)
				}
				continue
			}
			compared++
			if errCode(checkErr) != errCode(res.Err) {
				t.Fatalf("seed %d op %+v: Check = %v; Apply = %v", seed, op, checkErr, res.Err)
			}
		}
		if compared < 2000 {
			t.Errorf("seed %d: only %d ops compared", seed, compared)
		}
	}
}
