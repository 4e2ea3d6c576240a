package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"
	"testing/iotest"
)

// historyState returns a state after a random history, with a dedup table.
func historyState(t testing.TB, seed uint64, n int) *State {
	t.Helper()
	s := New()
	for i, st := range history(seed, n) {
		st.apply(s, uint64(i+1))
	}
	return s
}

func snapshotBytes(t testing.TB, s *State) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return buf.Bytes()
}

// target returns a non-empty state to restore into, and its digest.
func target(t testing.TB) (*State, string) {
	s := New()
	mustApply(t, s, Op{Type: OpMkdir, Path: "/keep"}, Op{Type: OpCreate, Path: "/keep/f", ClientID: "k", Seq: 1},
		Op{Type: OpAddChunk, Path: "/keep/f"})
	return s, s.Digest()
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    *State
	}{
		{"empty", New()},
		{"base", func() *State { s := New(); mustApply(t, s, base...); return s }()},
		{"history", historyState(t, 5, 2000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := snapshotBytes(t, tt.s)
			// A reader that returns one byte at a time exercises refills.
			for _, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b)),
				iotest.DataErrReader(bytes.NewReader(b))} {
				got := New()
				if err := got.Restore(r); err != nil {
					t.Fatalf("Restore: %v", err)
				}
				if got.Digest() != tt.s.Digest() {
					t.Fatalf("restored digest differs")
				}
				if !bytes.Equal(snapshotBytes(t, got), b) {
					t.Fatalf("snapshot of restored state differs from the original snapshot")
				}
			}
		})
	}
}

func TestRestoreCorruption(t *testing.T) {
	b := snapshotBytes(t, historyState(t, 9, 1500))
	t.Logf("snapshot is %d bytes", len(b))
	s, before := target(t)
	check := func(what string, data []byte) {
		t.Helper()
		err := s.Restore(bytes.NewReader(data))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Restore(%s) = %v; want an error wrapping ErrCorrupt", what, err)
		}
		if s.Digest() != before {
			t.Fatalf("Restore(%s) failed but changed the state", what)
		}
	}
	for i := range b {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(b)
			bad[i] ^= mask
			check("byte flipped", bad)
		}
	}
	for n := 0; n < len(b); n++ {
		check("truncated", b[:n])
	}
	check("trailing byte", append(bytes.Clone(b), 0))
	check("doubled", append(bytes.Clone(b), b...))
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestRestoreReadError(t *testing.T) {
	b := snapshotBytes(t, historyState(t, 9, 500))
	s, before := target(t)
	boom := errors.New("disk on fire")
	err := s.Restore(&failingReader{data: b[:len(b)/2], err: boom})
	if !errors.Is(err, boom) {
		t.Errorf("Restore with a failing reader = %v; want it to wrap the reader's error", err)
	}
	if s.Digest() != before {
		t.Errorf("failed Restore changed the state")
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestSnapshotWriteError(t *testing.T) {
	s := historyState(t, 3, 500)
	size := len(snapshotBytes(t, s))
	for _, n := range []int{0, size - 4, size - 1} {
		if err := s.Snapshot(&failingWriter{n: n}); err == nil {
			t.Errorf("Snapshot to a writer failing after %d of %d bytes = nil; want an error", n, size)
		}
	}
}

// snapBuilder writes snapshots by hand, to test invariants that a good
// checksum does not cover. It writes the first format (version 1, without
// mtimes), which Restore must go on reading: the "valid" cases below are
// old checkpoints loading.
type snapBuilder struct{ b []byte }

func newSnap(applied, nextHandle, files, dirs, chunks uint64) *snapBuilder {
	sb := &snapBuilder{b: append([]byte(snapMagic), snapVersion1)}
	return sb.u(applied).u(nextHandle).u(files).u(dirs).u(chunks)
}

func (sb *snapBuilder) u(vs ...uint64) *snapBuilder {
	for _, v := range vs {
		sb.b = binary.AppendUvarint(sb.b, v)
	}
	return sb
}

func (sb *snapBuilder) i(v int64) *snapBuilder { sb.b = binary.AppendVarint(sb.b, v); return sb }

func (sb *snapBuilder) raw(bs ...byte) *snapBuilder { sb.b = append(sb.b, bs...); return sb }

func (sb *snapBuilder) str(s string) *snapBuilder {
	sb.b = append(binary.AppendUvarint(sb.b, uint64(len(s))), s...)
	return sb
}

// file appends a file entry with the given chunks (handle, version pairs).
func (sb *snapBuilder) file(name string, size int64, hv ...uint64) *snapBuilder {
	sb.str(name).raw(kindFile).i(size).u(uint64(len(hv) / 2))
	return sb.u(hv...)
}

func (sb *snapBuilder) seal() []byte {
	return binary.BigEndian.AppendUint32(sb.b, crc32.Checksum(sb.b, castagnoli))
}

func TestRestoreInvariants(t *testing.T) {
	noDedup := func(sb *snapBuilder) *snapBuilder { return sb.u(0) }
	tests := []struct {
		name string
		snap []byte
		ok   bool
	}{
		{"valid", noDedup(newSnap(5, 3, 2, 2, 2).u(2).
			str("d").raw(kindDir).u(1).file("f", 1, 1, 1).
			file("g", 0, 2, 7)).seal(), true},
		{"valid dedup", newSnap(5, 1, 0, 1, 0).u(0).
			u(2).str("c1").u(1, 3).raw(0).u(0, 0, 0).str("c2").u(9, 4).raw(2).str("create /x: meta: exists").u(0, 0).seal(), true},
		{"bad magic", append([]byte("XXXXXXX"), newSnap(0, 1, 0, 1, 0).u(0, 0).seal()[7:]...), false},
		{"bad version", func() []byte { b := newSnap(0, 1, 0, 1, 0).u(0, 0).b; b[7] = 9; return (&snapBuilder{b}).seal() }(), false},
		{"file count", noDedup(newSnap(0, 1, 1, 1, 0).u(0)).seal(), false},
		{"dir count", noDedup(newSnap(0, 1, 0, 2, 0).u(0)).seal(), false},
		{"chunk count", noDedup(newSnap(0, 2, 1, 1, 0).u(1).file("f", 0, 1, 1)).seal(), false},
		{"unsorted names", noDedup(newSnap(0, 1, 2, 1, 0).u(2).file("b", 0).file("a", 0)).seal(), false},
		{"duplicate names", noDedup(newSnap(0, 1, 2, 1, 0).u(2).file("a", 0).file("a", 0)).seal(), false},
		{"empty name", noDedup(newSnap(0, 1, 1, 1, 0).u(1).file("", 0)).seal(), false},
		{"slash in name", noDedup(newSnap(0, 1, 1, 1, 0).u(1).file("a/b", 0)).seal(), false},
		{"dotdot name", noDedup(newSnap(0, 1, 1, 1, 0).u(1).file("..", 0)).seal(), false},
		{"NUL in name", noDedup(newSnap(0, 1, 1, 1, 0).u(1).file("a\x00", 0)).seal(), false},
		{"unknown kind", noDedup(newSnap(0, 1, 1, 1, 0).u(1).str("a").raw(7)).seal(), false},
		{"negative size", noDedup(newSnap(0, 1, 1, 1, 0).u(1).file("a", -1)).seal(), false},
		{"handle zero", noDedup(newSnap(0, 2, 1, 1, 1).u(1).file("a", 0, 0, 1)).seal(), false},
		{"handle not allocated", noDedup(newSnap(0, 2, 1, 1, 1).u(1).file("a", 0, 2, 1)).seal(), false},
		{"handle twice", noDedup(newSnap(0, 3, 2, 1, 2).u(2).file("a", 0, 1, 1).file("b", 0, 1, 1)).seal(), false},
		{"handles out of order", noDedup(newSnap(0, 3, 1, 1, 2).u(1).file("a", 0, 2, 1, 1, 1)).seal(), false},
		{"version zero", noDedup(newSnap(0, 2, 1, 1, 1).u(1).file("a", 0, 1, 0)).seal(), false},
		{"dedup index above applied", newSnap(5, 1, 0, 1, 0).u(0).
			u(1).str("c").u(1, 6).raw(0).u(0, 0, 0).seal(), false},
		{"dedup index order", newSnap(5, 1, 0, 1, 0).u(0).
			u(2).str("c").u(1, 3).raw(0).u(0, 0, 0).str("d").u(1, 3).raw(0).u(0, 0, 0).seal(), false},
		{"dedup duplicate client", newSnap(5, 1, 0, 1, 0).u(0).
			u(2).str("c").u(1, 3).raw(0).u(0, 0, 0).str("c").u(1, 4).raw(0).u(0, 0, 0).seal(), false},
		{"dedup empty client", newSnap(5, 1, 0, 1, 0).u(0).
			u(1).str("").u(1, 3).raw(0).u(0, 0, 0).seal(), false},
		{"dedup unknown code", newSnap(5, 1, 0, 1, 0).u(0).
			u(1).str("c").u(1, 3).raw(byte(len(sentinels)+1)).str("x").u(0, 0).seal(), false},
		{"dedup code without message", newSnap(5, 1, 0, 1, 0).u(0).
			u(1).str("c").u(1, 3).raw(1).u(0, 0, 0).seal(), false},
		{"dedup too many", newSnap(5, 1, 0, 1, 0).u(0).u(MaxClients + 1).seal(), false},
		{"varint overflow", newSnap(0, 1, 0, 1, 0).raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1).seal(), false},
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

func TestRestoreDeepPath(t *testing.T) {
	// The deepest possible tree: 2047 nested one-letter directories.
	s := New()
	p := ""
	for len(p)+2 <= MaxPathLen {
		p += "/d"
		mustApply(t, s, Op{Type: OpMkdir, Path: p})
	}
	r := New()
	if err := r.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatalf("Restore of the deepest tree: %v", err)
	}
	if r.Digest() != s.Digest() {
		t.Errorf("restored deep tree differs")
	}
}

// FuzzRestore checks that no input makes Restore panic and that a failed
// Restore leaves the state alone.
func FuzzRestore(f *testing.F) {
	f.Add(snapshotBytes(f, historyState(f, 4, 200)))
	f.Add(snapshotBytes(f, New()))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, before := target(t)
		if err := s.Restore(bytes.NewReader(b)); err != nil && s.Digest() != before {
			t.Fatalf("failed Restore changed the state")
		}
	})
}

func TestSnapshotMtimes(t *testing.T) {
	s := New()
	mustApply(t, s, Op{Type: OpMkdir, Path: "/d", Mtime: 100})
	mustApply(t, s, Op{Type: OpCreate, Path: "/d/f", Mtime: 200})
	mustApply(t, s, Op{Type: OpSetSize, Path: "/d/f", Size: 5, Mtime: 300})
	mustApply(t, s, Op{Type: OpCreate, Path: "/old"}) // a record from before mtimes
	r := New()
	if err := r.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want int64
	}{{"/", 100}, {"/d", 200}, {"/d/f", 300}, {"/old", 0}} {
		for _, st := range []*State{s, r} {
			if e, err := st.Stat(tt.path); err != nil || e.Mtime != tt.want {
				t.Errorf("Stat(%s).Mtime = %d, %v; want %d", tt.path, e.Mtime, err, tt.want)
			}
		}
	}
	if r.Digest() != s.Digest() {
		t.Errorf("restored state's digest differs")
	}
	// A version-1 snapshot (an old checkpoint) restores with every mtime 0.
	old := noMtimeSnapshot(t)
	if err := r.Restore(bytes.NewReader(old)); err != nil {
		t.Fatalf("Restore(version 1) = %v", err)
	}
	if e, err := r.Stat("/d/f"); err != nil || e.Mtime != 0 || e.Size != 1 {
		t.Errorf("Stat(/d/f) after a version-1 restore = %+v, %v; want size 1, mtime 0", e, err)
	}
}

func noMtimeSnapshot(t *testing.T) []byte {
	t.Helper()
	return newSnap(5, 3, 1, 2, 1).u(1).str("d").raw(kindDir).u(1).file("f", 1, 1, 1).u(0).seal()
}
