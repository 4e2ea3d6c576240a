package chunkserver

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

func openStoreT(t *testing.T, dir string, o StoreOptions) *Store {
	t.Helper()
	s, err := OpenStore(dir, o)
	if err != nil {
		t.Fatalf("OpenStore(%s): %v", dir, err)
	}
	return s
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeT(t *testing.T, s *Store, h, version uint64, off int64, data []byte, frames int) {
	t.Helper()
	w, err := s.BeginWrite(h, version, off, int64(len(data)))
	if err != nil {
		t.Fatalf("BeginWrite(%d, v%d, %d, %d): %v", h, version, off, len(data), err)
	}
	step := max(1, len(data)/max(1, frames))
	for p := data; len(p) > 0; {
		n := min(step, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func readAll(s *Store, h, version uint64, off, n int64) ([]byte, error) {
	var out bytes.Buffer
	err := s.Read(h, version, off, n, func(b []byte) error { out.Write(b); return nil })
	return out.Bytes(), err
}

// TestStoreWritesAndReadsBack writes at aligned and unaligned offsets, in
// frames that cross block boundaries, and overwrites the middle of existing
// blocks: every byte reads back, and the checksums hold after reopening.
func TestStoreWritesAndReadsBack(t *testing.T) {
	dir := t.TempDir()
	s := openStoreT(t, dir, StoreOptions{})
	const h = 7
	if err := s.Create(h, 1, 8<<20); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 0, 8<<20)
	steps := []struct {
		name   string
		off    int64
		n      int
		frames int
	}{
		{"aligned first blocks", 0, 3 * BlockSize, 3},
		{"unaligned append, odd frames", -1, BlockSize + 12345, 7},
		{"overwrite middle of a block", 1000, 500, 1},
		{"overwrite across blocks", BlockSize - 10, 2*BlockSize + 20, 5},
		{"append ending mid-block", -1, 99, 1},
		{"big append", -1, 3<<20 + 17, 13},
	}
	for i, st := range steps {
		off := st.off
		if off < 0 {
			off = int64(len(want))
		}
		data := randBytes(uint64(i), st.n)
		writeT(t, s, h, 1, off, data, st.frames)
		if end := off + int64(len(data)); end > int64(len(want)) {
			want = append(want, make([]byte, end-int64(len(want)))...)
		}
		copy(want[off:], data)
		got, err := readAll(s, h, 1, 0, int64(len(want))+100)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: read back %d bytes, err %v; want %d identical bytes", st.name, len(got), err, len(want))
		}
	}
	// Ranges that start and end inside blocks.
	for _, r := range [][2]int64{{1, 10}, {BlockSize - 1, 2}, {100000, 1 << 20}, {int64(len(want)) - 5, 50}} {
		got, err := readAll(s, h, 1, r[0], r[1])
		end := min(r[0]+r[1], int64(len(want)))
		if err != nil || !bytes.Equal(got, want[r[0]:end]) {
			t.Errorf("Read(%d, %d) = %d bytes, %v; want bytes %d..%d", r[0], r[1], len(got), err, r[0], end)
		}
	}
	s2 := openStoreT(t, dir, StoreOptions{})
	if err := s2.Verify(h); err != nil {
		t.Fatalf("after reopen Verify = %v", err)
	}
	if info, _ := s2.Get(h); info.Size != int64(len(want)) || info.Version != 1 {
		t.Fatalf("after reopen Get = %+v; want size %d version 1", info, len(want))
	}
}

func TestStoreVersions(t *testing.T) {
	s := openStoreT(t, t.TempDir(), StoreOptions{})
	if err := s.Create(1, 3, 1<<20); err != nil {
		t.Fatal(err)
	}
	writeT(t, s, 1, 3, 0, []byte("hello"), 1)
	for _, tc := range []struct {
		name     string
		do       func() error
		want     error
		wantVers uint64
	}{
		{"create again, same version (retry)", func() error { return s.Create(1, 3, 1<<20) }, nil, 3},
		{"create again, other version", func() error { return s.Create(1, 4, 1<<20) }, ErrExists, 3},
		{"bump from a version it does not have", func() error { return s.SetVersion(1, 2, 5) }, ErrVersion, 3},
		{"bump", func() error { return s.SetVersion(1, 3, 4) }, nil, 4},
		{"bump retried", func() error { return s.SetVersion(1, 3, 4) }, nil, 4},
		{"read at the old version", func() error { _, err := readAll(s, 1, 3, 0, 5); return err }, ErrVersion, 4},
		{"write at the old version", func() error { _, err := s.BeginWrite(1, 3, 5, 1); return err }, ErrVersion, 4},
		{"write leaving a hole", func() error { _, err := s.BeginWrite(1, 4, 6, 1); return err }, ErrBadWrite, 4},
		{"write past the chunk size", func() error { _, err := s.BeginWrite(1, 4, 5, 1<<20); return err }, ErrTooLarge, 4},
		{"missing chunk", func() error { _, err := readAll(s, 9, 1, 0, 1); return err }, ErrNotFound, 4},
	} {
		err := tc.do()
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: err = %v; want %v", tc.name, err, tc.want)
		}
		if info, _ := s.Get(1); info.Version != tc.wantVers {
			t.Errorf("%s: version = %d; want %d", tc.name, info.Version, tc.wantVers)
		}
	}
	if got, err := readAll(s, 1, 4, 0, 100); err != nil || string(got) != "hello" {
		t.Fatalf("read at version 4 = %q, %v; want hello", got, err)
	}
}

// TestStoreDetectsCorruption flips one byte in a data file: the read of
// that block fails with ErrCorrupt naming the block; reads of other blocks
// still work; Quarantine takes the replica out, and it stays out after a
// reopen.
func TestStoreDetectsCorruption(t *testing.T) {
	dir := t.TempDir()
	s := openStoreT(t, dir, StoreOptions{})
	data := randBytes(1, 4*BlockSize)
	if err := s.Create(5, 2, 1<<20); err != nil {
		t.Fatal(err)
	}
	writeT(t, s, 5, 2, 0, data, 4)
	path := s.dataPath(5)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{data[2*BlockSize+7] ^ 0xff}, 2*BlockSize+7)
	f.Close()

	_, err = readAll(s, 5, 2, 0, int64(len(data)))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of a corrupted replica: err = %v; want ErrCorrupt", err)
	}
	t.Logf("corruption reported as: %v", err)
	if got, err := readAll(s, 5, 2, 0, 2*BlockSize); err != nil || !bytes.Equal(got, data[:2*BlockSize]) {
		t.Fatalf("read of the good blocks: %d bytes, %v", len(got), err)
	}
	// A write sharing the corrupt block refuses to bless it with a new checksum.
	if _, err := s.BeginWrite(5, 2, 2*BlockSize+100, 10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("write into the corrupt block: err = %v; want ErrCorrupt", err)
	}
	s.Quarantine(5, err.Error())
	if _, ok := s.Get(5); ok {
		t.Fatal("quarantined replica still in the store")
	}
	if _, err := readAll(s, 5, 2, 0, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("read after quarantine: err = %v; want ErrNotFound", err)
	}
	s2 := openStoreT(t, dir, StoreOptions{})
	if len(s2.List()) != 0 {
		t.Fatalf("after reopen List = %v; want nothing", s2.List())
	}
	left, _ := filepath.Glob(filepath.Join(dir, "corrupt", "*"))
	if len(left) < 2 {
		t.Fatalf("corrupt/ holds %v; want the quarantined files kept for inspection", left)
	}
}

func TestStoreCorruptMetadataIsQuarantinedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStoreT(t, dir, StoreOptions{})
	for h := uint64(1); h <= 2; h++ {
		if err := s.Create(h, 1, 1<<20); err != nil {
			t.Fatal(err)
		}
		writeT(t, s, h, 1, 0, []byte("data"), 1)
	}
	if err := os.WriteFile(s.metaPath(2), []byte("GFSCHNK1 garbage garbage garbage garbage garbage garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openStoreT(t, dir, StoreOptions{})
	if got := s2.List(); len(got) != 1 || got[0].Handle != 1 {
		t.Fatalf("after reopen List = %+v; want only chunk 1", got)
	}
}

// fullDisk is a File whose writes fail with ENOSPC once budget bytes have
// been written through all files sharing it.
type fullDisk struct {
	File
	budget *atomic.Int64
}

func (f fullDisk) WriteAt(p []byte, off int64) (int, error) {
	if f.budget.Add(-int64(len(p))) < 0 {
		// Like a real disk: part of the data may land before the error.
		n, _ := f.File.WriteAt(p[:len(p)/2], off)
		return n, &os.PathError{Op: "write", Path: "chunk", Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// TestStoreFullDisk: a write that runs out of space fails with ErrNoSpace,
// and leaves the replica exactly as it was (size, version, bytes); other
// replicas are untouched and everything reads back after a reopen.
func TestStoreFullDisk(t *testing.T) {
	dir := t.TempDir()
	var budget atomic.Int64
	budget.Store(1 << 40)
	o := StoreOptions{OpenFile: func(name string, flag int, perm os.FileMode) (File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return fullDisk{File: f, budget: &budget}, nil
	}}
	s := openStoreT(t, dir, o)
	old := randBytes(3, BlockSize+500)
	other := randBytes(4, 1000)
	for h, d := range map[uint64][]byte{1: old, 2: other} {
		if err := s.Create(h, 1, 4<<20); err != nil {
			t.Fatal(err)
		}
		writeT(t, s, h, 1, 0, d, 2)
	}
	budget.Store(100000) // the disk fills up during the next write
	w, err := s.BeginWrite(1, 1, int64(len(old)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; i < 16 && werr == nil; i++ {
		_, werr = w.Write(randBytes(uint64(10+i), 1<<16))
	}
	if !errors.Is(werr, ErrNoSpace) {
		t.Fatalf("write on a full disk: err = %v; want ErrNoSpace", werr)
	}
	t.Logf("full disk reported as: %v", werr)
	w.Abort()
	for _, st := range []*Store{s, openStoreT(t, dir, StoreOptions{})} {
		if info, _ := st.Get(1); info.Size != int64(len(old)) || info.Version != 1 {
			t.Fatalf("after the failed write Get(1) = %+v; want size %d version 1", info, len(old))
		}
		for h, want := range map[uint64][]byte{1: old, 2: other} {
			if got, err := readAll(st, h, 1, 0, 1<<22); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("chunk %d after the failed write: %d bytes, %v; want its %d bytes intact", h, len(got), err, len(want))
			}
		}
	}
	// A create on the full disk fails clearly too, and leaves nothing behind.
	budget.Store(-1)
	if err := s.Create(3, 1, 1<<20); err != nil {
		t.Logf("create on a full disk: %v", err)
	}
}

func TestStoreInstallReplacesStaleReplica(t *testing.T) {
	s := openStoreT(t, t.TempDir(), StoreOptions{})
	if err := s.Create(4, 1, 1<<20); err != nil {
		t.Fatal(err)
	}
	writeT(t, s, 4, 1, 0, []byte("stale"), 1)
	data := randBytes(9, 3*BlockSize+1)
	info, err := s.Install(4, 2, 1<<20, bytes.NewReader(data))
	if err != nil || info.Version != 2 || info.Size != int64(len(data)) {
		t.Fatalf("Install = %+v, %v", info, err)
	}
	if got, err := readAll(s, 4, 2, 0, 1<<20); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read installed replica: %d bytes, %v", len(got), err)
	}
	if _, err := s.Install(4, 1, 1<<20, bytes.NewReader(data)); !errors.Is(err, ErrVersion) {
		t.Fatalf("Install of an older version: err = %v; want ErrVersion", err)
	}
	if _, err := s.Install(8, 1, 10, bytes.NewReader(data)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Install past the chunk size: err = %v; want ErrTooLarge", err)
	}
	if _, ok := s.Get(8); ok {
		t.Fatal("a failed install left a replica")
	}
}

func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDir(dir, "cs1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockDir(dir, "cs2")
	if !errors.Is(err, ErrDirInUse) {
		t.Fatalf("second lock: err = %v; want ErrDirInUse", err)
	}
	for _, want := range []string{dir, "cs1"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	l.release()
	l.release()
	_, err = lockDir(dir, "cs2")
	if !errors.Is(err, ErrDirInUse) {
		t.Fatalf("lock of cs1's dir by cs2: err = %v; want ErrDirInUse", err)
	}
	t.Logf("other id: %v", err)
	l2, err := lockDir(dir, "cs1")
	if err != nil {
		t.Fatalf("relock by its owner: %v", err)
	}
	l2.release()
}

func BenchmarkStoreWrite(b *testing.B) {
	s, err := OpenStore(b.TempDir(), StoreOptions{})
	if err != nil {
		b.Fatal(err)
	}
	data := randBytes(1, 1<<20)
	b.SetBytes(16 << 20)
	for i := range b.N {
		h := uint64(i + 1)
		if err := s.Create(h, 1, 16<<20); err != nil {
			b.Fatal(err)
		}
		w, err := s.BeginWrite(h, 1, 0, 16<<20)
		if err != nil {
			b.Fatal(err)
		}
		for range 16 {
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		s.Delete(h)
	}
	_ = fmt.Sprint()
}
