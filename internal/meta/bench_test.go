package meta

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// build1M returns a state with 1,000,000 files in 1,000 directories, each
// file with one chunk and a size.
func build1M(tb testing.TB, dirs, perDir int) *State {
	tb.Helper()
	s := New()
	index := uint64(0)
	next := func(op Op) {
		index++
		if res := s.Apply(index, op); res.Err != nil {
			tb.Fatalf("Apply(%+v) = %v", op, res.Err)
		}
	}
	for d := 0; d < dirs; d++ {
		dir := fmt.Sprintf("/d%04d", d)
		next(Op{Type: OpMkdir, Path: dir})
		for f := 0; f < perDir; f++ {
			p := fmt.Sprintf("%s/f%07d", dir, d*perDir+f)
			next(Op{Type: OpCreate, Path: p})
			next(Op{Type: OpAddChunk, Path: p})
			next(Op{Type: OpSetSize, Path: p, Size: 1 << 20})
		}
	}
	return s
}

var (
	big1MOnce sync.Once
	big1M     *State
	big1MSnap []byte
)

// shared1M builds the 1M-file state and its snapshot once per test binary.
func shared1M(b *testing.B) (*State, []byte) {
	big1MOnce.Do(func() {
		big1M = build1M(b, 1000, 1000)
		var buf bytes.Buffer
		if err := big1M.Snapshot(&buf); err != nil {
			b.Fatal(err)
		}
		big1MSnap = buf.Bytes()
	})
	return big1M, big1MSnap
}

func BenchmarkApplyCreate(b *testing.B) {
	s := New()
	for d := 0; d < 1000; d++ {
		mustApply(b, s, Op{Type: OpMkdir, Path: fmt.Sprintf("/d%04d", d)})
	}
	paths := make([]string, b.N)
	for i := range paths {
		paths[i] = fmt.Sprintf("/d%04d/f%09d", i%1000, i)
	}
	index := s.AppliedIndex()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		index++
		if res := s.Apply(index, Op{Type: OpCreate, Path: paths[i]}); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkApplyEncodedCreate(b *testing.B) {
	s := New()
	for d := 0; d < 1000; d++ {
		mustApply(b, s, Op{Type: OpMkdir, Path: fmt.Sprintf("/d%04d", d)})
	}
	enc := make([][]byte, b.N)
	for i := range enc {
		enc[i] = Op{Type: OpCreate, Path: fmt.Sprintf("/d%04d/f%09d", i%1000, i), ClientID: "bench-client", Seq: uint64(i + 1)}.Marshal()
	}
	index := s.AppliedIndex()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		index++
		if res := s.ApplyEncoded(index, enc[i]); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func Benchmark1M(b *testing.B) {
	s, snap := shared1M(b)
	b.Run("Snapshot", func(b *testing.B) {
		var buf bytes.Buffer
		buf.Grow(len(snap))
		b.SetBytes(int64(len(snap)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf.Reset()
			if err := s.Snapshot(&buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Restore", func(b *testing.B) {
		b.SetBytes(int64(len(snap)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r := New()
			if err := r.Restore(bytes.NewReader(snap)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Digest", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s.Digest()
		}
	})
}

func BenchmarkMemoryPerFile(b *testing.B) {
	const dirs, perDir = 1000, 1000
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := build1M(b, dirs, perDir)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(dirs*perDir), "bytes/file")

		// The same after a restore, which sizes maps up front.
		snap := snapshotBytes(b, s)
		s = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := New()
		if err := r.Restore(bytes.NewReader(snap)); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(dirs*perDir), "restored-bytes/file")
		runtime.KeepAlive(snap)
		runtime.KeepAlive(r)
	}
}
