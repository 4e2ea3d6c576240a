package meta

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// applyAt applies op as the next entry of s at log time at.
func applyAt(s *State, at time.Time, op Op) Result {
	return s.ApplyAt(s.AppliedIndex()+1, at, op)
}

// register registers a session at log time at and returns its id.
func register(t testing.TB, s *State, at time.Time) uint64 {
	t.Helper()
	res := applyAt(s, at, Op{Type: OpRegisterSession})
	if res.Err != nil || res.Session != s.AppliedIndex() {
		t.Fatalf("register = %+v; want session %d (its index)", res, s.AppliedIndex())
	}
	return res.Session
}

// TestSessionRetryAfterManyLanes: the old table forgot a client after 100 k
// other lanes and then ran its retry again. A session keeps its lanes as
// long as it lives, whatever other clients do.
func TestSessionRetryAfterManyLanes(t *testing.T) {
	s := New()
	a := register(t, s, t0)
	create := Op{Type: OpCreate, Path: "/f", Session: a, ClientID: "1", Seq: 1}
	if res := applyAt(s, t0, create); res.Err != nil {
		t.Fatalf("create = %v", res.Err)
	}
	const others = 101_000
	var sid uint64
	for i := range others {
		if i%10_000 == 0 {
			sid = register(t, s, t0.Add(time.Second))
		}
		op := Op{Type: OpNoop, Session: sid, ClientID: strconv.Itoa(i), Seq: 1}
		if res := applyAt(s, t0.Add(time.Second), op); res.Err != nil {
			t.Fatalf("lane %d: %v", i, res.Err)
		}
	}
	if _, lanes := s.Sessions(); lanes != others+1 {
		t.Fatalf("Sessions() lanes = %d; want %d", lanes, others+1)
	}
	if err := s.Check(create); err != nil {
		t.Errorf("Check(retry) = %v; want nil (answered from the session)", err)
	}
	if res := applyAt(s, t0.Add(2*time.Second), create); res.Err != nil {
		t.Errorf("retry after %d other lanes = %v; want the first answer (success)", others, res.Err)
	}
	if got := s.Files(); got != 1 {
		t.Errorf("Files() = %d; want 1", got)
	}
}

func TestSessionExpiresByLogTime(t *testing.T) {
	s := New()
	a := register(t, s, t0)
	mkdir := Op{Type: OpMkdir, Path: "/d", Session: a, ClientID: "1", Seq: 1}
	if res := applyAt(s, t0.Add(30*time.Minute), mkdir); res.Err != nil {
		t.Fatalf("mkdir = %v", res.Err)
	}
	// Activity renews the session: 59 minutes after the mkdir it lives.
	if res := applyAt(s, t0.Add(89*time.Minute), mkdir); res.Err != nil {
		t.Fatalf("retry within the window = %v; want the first answer", res.Err)
	}
	// An entry with an earlier time (a primary whose clock is behind) does
	// not move the clock back.
	applyAt(s, t0, Op{Type: OpNoop})
	if got := s.LogTime(); !got.Equal(t0.Add(89 * time.Minute)) {
		t.Errorf("LogTime() = %v; want %v (never backwards)", got, t0.Add(89*time.Minute))
	}
	// An entry from another client an hour later expires the session; the
	// next op on it is refused and not run, even a new one.
	applyAt(s, t0.Add(149*time.Minute), Op{Type: OpNoop})
	if n, _ := s.Sessions(); n != 0 {
		t.Fatalf("Sessions() = %d after an idle hour; want 0", n)
	}
	create := Op{Type: OpCreate, Path: "/d/f", Session: a, ClientID: "1", Seq: 2}
	if err := s.Check(create); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("Check(op of expired session) = %v; want ErrSessionExpired", err)
	}
	if res := applyAt(s, t0.Add(150*time.Minute), create); !errors.Is(res.Err, ErrSessionExpired) {
		t.Errorf("op of expired session = %v; want ErrSessionExpired", res.Err)
	}
	if res := applyAt(s, t0.Add(150*time.Minute), mkdir); !errors.Is(res.Err, ErrSessionExpired) {
		t.Errorf("retry of expired session = %v; want ErrSessionExpired, never a second run", res.Err)
	}
	if _, err := s.Stat("/d/f"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(/d/f) = %v; want not found (the op must not run)", err)
	}
	// A session never registered is refused the same way.
	if res := applyAt(s, t0.Add(150*time.Minute), Op{Type: OpMkdir, Path: "/e", Session: 999, ClientID: "x", Seq: 1}); !errors.Is(res.Err, ErrSessionExpired) {
		t.Errorf("op of unknown session = %v; want ErrSessionExpired", res.Err)
	}
}

func TestSessionEvictionUnderCaps(t *testing.T) {
	s := New()
	s.sessions.limits = sessionLimits{sessions: 3, lanes: 5, perSession: 3, timeout: int64(time.Hour)}
	a, b, c := register(t, s, t0), register(t, s, t0), register(t, s, t0)
	op := func(sid uint64, lane string) Op {
		return Op{Type: OpNoop, Session: sid, ClientID: lane, Seq: 1}
	}
	applyAt(s, t0, op(a, "1")) // a is now the most recently active
	d := register(t, s, t0)    // evicts b, the least recently active
	for _, tt := range []struct {
		sid  uint64
		live bool
	}{{a, true}, {b, false}, {c, true}, {d, true}} {
		_, ok := s.sessions.byID[tt.sid]
		if ok != tt.live {
			t.Errorf("session %d live = %v; want %v", tt.sid, ok, tt.live)
		}
	}
	// Per-session lane limit: the op is refused, nothing is evicted.
	for _, lane := range []string{"2", "3"} {
		if res := applyAt(s, t0, op(a, lane)); res.Err != nil {
			t.Fatalf("lane %s: %v", lane, res.Err)
		}
	}
	if res := applyAt(s, t0, op(a, "4")); !errors.Is(res.Err, ErrBadOp) {
		t.Errorf("fourth lane of a session = %v; want ErrBadOp", res.Err)
	}
	// Total lane limit: c's and d's new lanes push out a, least recent.
	applyAt(s, t0, op(c, "1"))
	applyAt(s, t0, op(d, "1"))
	applyAt(s, t0, op(d, "2"))
	if _, ok := s.sessions.byID[a]; ok {
		t.Errorf("session %d survived the lane limit; want it evicted (least recently active)", a)
	}
	if n, lanes := s.Sessions(); n != 2 || lanes != 3 {
		t.Errorf("Sessions() = %d, %d; want 2, 3", n, lanes)
	}
}

func TestSessionsSurviveSnapshot(t *testing.T) {
	s := New()
	a := register(t, s, t0)
	applyAt(s, t0.Add(time.Minute), Op{Type: OpMkdir, Path: "/d", Session: a, ClientID: "1", Seq: 1})
	failed := applyAt(s, t0.Add(time.Minute), Op{Type: OpMkdir, Path: "/x/y", Session: a, ClientID: "2", Seq: 7})
	b := register(t, s, t0.Add(2*time.Minute))
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("Restore = %v", err)
	}
	if r.Digest() != s.Digest() {
		t.Errorf("restored digest differs")
	}
	if got := r.LogTime(); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("restored LogTime() = %v; want %v", got, t0.Add(2*time.Minute))
	}
	res, ok := r.Replay(Op{Type: OpMkdir, Path: "/x/y", Session: a, ClientID: "2", Seq: 7})
	if !ok || !errors.Is(res.Err, ErrNotFound) || res.Err.Error() != failed.Err.Error() {
		t.Errorf("restored Replay = %+v, %v; want the original %v", res, ok, failed.Err)
	}
	// Expiry order survives too: b is younger, so a expires first.
	applyAt(r, t0.Add(61*time.Minute), Op{Type: OpNoop})
	if _, ok := r.sessions.byID[a]; ok {
		t.Errorf("session %d outlived its hour after Restore", a)
	}
	if _, ok := r.sessions.byID[b]; !ok {
		t.Errorf("session %d expired early after Restore", b)
	}
	// The session table is part of the digest.
	if r.Digest() == s.Digest() {
		t.Errorf("digest did not change when a session expired")
	}
}

func TestRestoreSessionInvariants(t *testing.T) {
	v2 := func() *snapBuilder {
		sb := newSnap(5, 1, 0, 1, 0).u(0).u(0) // empty tree, no legacy records
		sb.b[len(snapMagic)] = snapVersionNoMtime
		return sb
	}
	tests := []struct {
		name string
		snap []byte
		ok   bool
	}{
		{"valid", v2().i(100).u(2).u(1).i(50).u(2).str("a").u(1).raw(0).u(0, 0, 0).str("b").u(2).raw(2).str("x").u(0, 0).
			u(3).i(60).u(0).seal(), true},
		{"no sessions", v2().i(0).u(0).seal(), true},
		{"session above applied", v2().i(100).u(1).u(6).i(50).u(0).seal(), false},
		{"session zero", v2().i(100).u(1).u(0).i(50).u(0).seal(), false},
		{"session twice", v2().i(100).u(2).u(1).i(50).u(0).u(1).i(50).u(0).seal(), false},
		{"activity order", v2().i(100).u(2).u(1).i(60).u(0).u(2).i(50).u(0).seal(), false},
		{"activity after clock", v2().i(100).u(1).u(1).i(150).u(0).seal(), false},
		{"lanes unsorted", v2().i(100).u(1).u(1).i(50).u(2).str("b").u(1).raw(0).u(0, 0, 0).str("a").u(1).raw(0).u(0, 0, 0).seal(), false},
		{"lane bad code", v2().i(100).u(1).u(1).i(50).u(1).str("a").u(1).raw(byte(len(sentinels)+1)).str("x").u(0, 0).seal(), false},
		{"too many sessions", v2().i(100).u(MaxSessions + 1).seal(), false},
		{"truncated", v2().i(100).u(1).u(1).seal(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, before := target(t)
			err := s.Restore(bytes.NewReader(tt.snap))
			if tt.ok {
				if err != nil {
					t.Fatalf("Restore = %v; want success", err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v; want an error wrapping ErrCorrupt", err)
			}
			if s.Digest() != before {
				t.Errorf("failed Restore changed the state")
			}
		})
	}
}

func TestSessionOpEncoding(t *testing.T) {
	for _, op := range []Op{
		{Type: OpRegisterSession},
		{Type: OpCreate, Path: "/a", Session: 1 << 40, ClientID: "7", Seq: 3},
	} {
		got, err := UnmarshalOp(op.Marshal())
		if err != nil || got != op {
			t.Errorf("UnmarshalOp(Marshal(%+v)) = %+v, %v", op, got, err)
		}
	}
}
