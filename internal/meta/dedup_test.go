package meta

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestDedupRetry(t *testing.T) {
	s := New()
	mustApply(t, s, Op{Type: OpMkdir, Path: "/a"})
	create := Op{Type: OpCreate, Path: "/a/f", ClientID: "c1", Seq: 1}
	addChunk := Op{Type: OpAddChunk, Path: "/a/f", ClientID: "c1", Seq: 2}
	mustApply(t, s, create)

	// A retry of the create (say, after a failover) is answered from the
	// table: no "exists" for the client's own write.
	if err := s.Check(create); err != nil {
		t.Errorf("Check(retried create) = %v; want nil", err)
	}
	if res := apply(s, create); res.Err != nil {
		t.Errorf("retried create = %v; want the remembered success", res.Err)
	}
	// Another client creating the same path does get "exists".
	other := Op{Type: OpCreate, Path: "/a/f", ClientID: "c2", Seq: 1}
	if res := apply(s, other); !errors.Is(res.Err, ErrExists) {
		t.Errorf("create by another client = %v; want ErrExists", res.Err)
	}
	// ... and its retry returns the same remembered failure.
	if res := apply(s, other); !errors.Is(res.Err, ErrExists) {
		t.Errorf("retry of failed create = %v; want the remembered ErrExists", res.Err)
	}
	if err := s.Check(other); err != nil {
		t.Errorf("Check(retry of failed create) = %v; want nil (answered from the table)", err)
	}

	first := apply(s, addChunk)
	if first.Err != nil || first.Handle != 1 {
		t.Fatalf("add chunk = %+v; want handle 1", first)
	}
	if again := apply(s, addChunk); again != first {
		t.Errorf("retried add chunk = %+v; want %+v (no second chunk)", again, first)
	}
	if e, _ := s.Stat("/a/f"); len(e.Chunks) != 1 {
		t.Errorf("file has %d chunks after a retried add; want 1", len(e.Chunks))
	}
	if res, ok := s.Dedup("c1", 2); !ok || res != first {
		t.Errorf("Dedup(c1, 2) = %+v, %v; want %+v, true", res, ok, first)
	}
	if _, ok := s.Dedup("c1", 1); ok {
		t.Errorf("Dedup(c1, 1) found a result; want only the last seq remembered")
	}
	if _, ok := s.Dedup("nobody", 1); ok {
		t.Errorf("Dedup(nobody, 1) found a result")
	}

	// An older seq is stale, in Check and in Apply, and consumes the entry.
	index := s.AppliedIndex()
	if err := s.Check(create); !errors.Is(err, ErrStale) {
		t.Errorf("Check(stale) = %v; want ErrStale", err)
	}
	if res := apply(s, create); !errors.Is(res.Err, ErrStale) {
		t.Errorf("Apply(stale) = %v; want ErrStale", res.Err)
	}
	if s.AppliedIndex() != index+1 {
		t.Errorf("AppliedIndex() = %d after stale op; want %d", s.AppliedIndex(), index+1)
	}
	// A stale op does not replace the record.
	if _, ok := s.Dedup("c1", 2); !ok {
		t.Errorf("Dedup(c1, 2) lost after a stale op")
	}
	// Seqs may skip.
	if res := apply(s, Op{Type: OpSetSize, Path: "/a/f", Size: 5, ClientID: "c1", Seq: 10}); res.Err != nil {
		t.Errorf("seq 10 after 2 = %v; want success", res.Err)
	}
}

func TestDedupRememberedErrorSurvivesRestore(t *testing.T) {
	s := New()
	res := apply(s, Op{Type: OpCreate, Path: "/x/f", ClientID: "c", Seq: 3})
	if !errors.Is(res.Err, ErrNotFound) {
		t.Fatalf("create under missing dir = %v; want ErrNotFound", res.Err)
	}
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	got, ok := r.Dedup("c", 3)
	if !ok || !errors.Is(got.Err, ErrNotFound) || got.Err.Error() != res.Err.Error() {
		t.Errorf("restored Dedup(c, 3) = %+v, %v; want the original %v", got, ok, res.Err)
	}
}

func TestDedupEviction(t *testing.T) {
	s := New()
	s.dedup.limit = 3
	for i, id := range []string{"a", "b", "c"} {
		mustApply(t, s, Op{Type: OpMkdir, Path: "/" + id, ClientID: id, Seq: uint64(i + 1)})
	}
	// Touching "a" makes "b" the oldest.
	mustApply(t, s, Op{Type: OpNoop, ClientID: "a", Seq: 10})
	mustApply(t, s, Op{Type: OpNoop, ClientID: "d", Seq: 1})

	tests := []struct {
		id   string
		seq  uint64
		want bool
	}{
		{"a", 10, true},
		{"b", 2, false},
		{"c", 3, true},
		{"d", 1, true},
	}
	for _, tt := range tests {
		if _, ok := s.Dedup(tt.id, tt.seq); ok != tt.want {
			t.Errorf("Dedup(%q, %d) found = %v; want %v", tt.id, tt.seq, ok, tt.want)
		}
	}
	if n := len(s.dedup.clients); n != 3 {
		t.Errorf("dedup table holds %d clients; want 3", n)
	}
	// The evicted client's retry runs again (here: fails with exists).
	if res := apply(s, Op{Type: OpMkdir, Path: "/b", ClientID: "b", Seq: 2}); !errors.Is(res.Err, ErrExists) {
		t.Errorf("retry by evicted client = %v; want it to run again and fail with ErrExists", res.Err)
	}
}

func TestDedupInDigest(t *testing.T) {
	with, without := New(), New()
	mustApply(t, with, Op{Type: OpMkdir, Path: "/a", ClientID: "c", Seq: 1})
	mustApply(t, without, Op{Type: OpMkdir, Path: "/a"})
	if with.Digest() == without.Digest() {
		t.Errorf("states that differ only in the dedup table have equal digests")
	}
	otherSeq := New()
	mustApply(t, otherSeq, Op{Type: OpMkdir, Path: "/a", ClientID: "c", Seq: 2})
	if with.Digest() == otherSeq.Digest() {
		t.Errorf("states that differ only in a remembered seq have equal digests")
	}
}

func TestDedupFullTableDeterministic(t *testing.T) {
	// Two replicas with a small table see the same evictions.
	a, b := New(), New()
	a.dedup.limit, b.dedup.limit = 16, 16
	for i := 0; i < 200; i++ {
		op := Op{Type: OpNoop, ClientID: fmt.Sprintf("c%d", i*7%40), Seq: uint64(i)}
		ra, rb := apply(a, op), apply(b, op)
		if errCode(ra.Err) != errCode(rb.Err) {
			t.Fatalf("step %d: results differ: %v vs %v", i, ra.Err, rb.Err)
		}
	}
	if a.Digest() != b.Digest() {
		t.Errorf("digests differ after the same evictions")
	}
	if n := len(a.dedup.clients); n != 16 {
		t.Errorf("table holds %d clients; want 16", n)
	}
}
