package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gfsha/master/internal/fencing"
	"github.com/gfsha/master/internal/meta"
)

func stateWith(t testing.TB, files int) *meta.State {
	t.Helper()
	st := meta.New()
	for i := range files {
		if r := st.Apply(uint64(i+1), meta.Op{Type: meta.OpCreate, Path: fmt.Sprintf("/f%d", i)}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return st
}

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), 2, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSaveLoadAndFallback(t *testing.T) {
	s := open(t)
	old := stateWith(t, 10)
	if _, err := s.Save(old, 3); err != nil {
		t.Fatal(err)
	}
	st := stateWith(t, 20)
	newest, err := s.Save(st, 4)
	if err != nil {
		t.Fatal(err)
	}
	if newest.Index != 20 || newest.Token != 4 {
		t.Fatalf("Save = %+v; want index 20 token 4", newest)
	}
	got := meta.New()
	info, err := s.Load(got)
	if err != nil || info.Index != 20 || info.Token != 4 || got.Digest() != st.Digest() {
		t.Fatalf("Load = %+v, %v; want index 20 with the saved state", info, err)
	}

	damage := []struct {
		name string
		hurt func(path string)
	}{
		{"flipped byte", func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-7], 0o644)
		}},
		{"empty", func(p string) { os.WriteFile(p, nil, 0o644) }},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			s := open(t)
			if _, err := s.Save(old, 3); err != nil {
				t.Fatal(err)
			}
			newest, err := s.Save(st, 4)
			if err != nil {
				t.Fatal(err)
			}
			d.hurt(newest.Path)
			got := meta.New()
			info, err := s.Load(got)
			if err != nil || info.Index != 10 || got.Digest() != old.Digest() {
				t.Fatalf("Load after damage = %+v, %v; want the previous checkpoint (index 10)", info, err)
			}
			if _, err := os.Stat(newest.Path + ".corrupt"); err != nil {
				t.Errorf("damaged checkpoint not kept aside as .corrupt: %v", err)
			}
		})
	}
}

func TestLoadNone(t *testing.T) {
	s := open(t)
	if _, err := s.Load(meta.New()); !errors.Is(err, ErrNone) {
		t.Fatalf("Load of empty store = %v; want ErrNone", err)
	}
}

func TestPruneKeepsNewest(t *testing.T) {
	s := open(t)
	for i := 1; i <= 4; i++ {
		if _, err := s.Save(stateWith(t, i), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	if len(list) != 2 || list[0].Index != 4 || list[1].Index != 3 {
		t.Fatalf("after Prune: %+v; want indexes 4 and 3", list)
	}
}

func TestSaveFromVerifies(t *testing.T) {
	src := open(t)
	st := stateWith(t, 5)
	info, err := src.Save(st, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(info.Path)
	dst := open(t)
	got, err := dst.SaveFrom(bytes.NewReader(b))
	if err != nil || got.Index != 5 || got.Token != 2 {
		t.Fatalf("SaveFrom = %+v, %v", got, err)
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] ^= 1
	if _, err := dst.SaveFrom(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("SaveFrom of a damaged stream = %v; want ErrCorrupt", err)
	}
	if list, _ := dst.List(); len(list) != 1 {
		t.Fatalf("a damaged stream left files: %+v", list)
	}
}

func BenchmarkCheckpoint1M(b *testing.B) {
	st := meta.New()
	idx := uint64(0)
	for d := range 1000 {
		idx++
		st.Apply(idx, meta.Op{Type: meta.OpMkdir, Path: fmt.Sprintf("/d%d", d)})
		for f := range 1000 {
			idx++
			p := fmt.Sprintf("/d%d/f%d", d, f)
			st.Apply(idx, meta.Op{Type: meta.OpCreate, Path: p})
			idx++
			st.Apply(idx, meta.Op{Type: meta.OpAddChunk, Path: p})
		}
	}
	s, err := Open(b.TempDir(), 2, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	var info Info
	b.Run("write", func(b *testing.B) {
		for range b.N {
			if info, err = s.Save(st, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(info.Size)/(1<<20), "MiB")
	})
	b.Run("load", func(b *testing.B) {
		if _, err := s.Save(st, 1); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := s.Load(meta.New()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// rewriteHeader replaces the header of the checkpoint at path with one in
// the given format (1 or 2) saying index and token.
func rewriteHeader(t *testing.T, path string, version int, index uint64, token fencing.Token) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	snap := b[headerLenV2:]
	var hdr []byte
	switch version {
	case 1:
		hdr = append([]byte(magicV1), make([]byte, 16)...)
		binary.BigEndian.PutUint64(hdr[4:], index)
		binary.BigEndian.PutUint64(hdr[12:], uint64(token))
	case 2:
		hdr = encodeHeader(index, token)
	}
	if err := os.WriteFile(path, append(hdr, snap...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The header (index and token) is checksummed: a flipped bit in it makes
// the checkpoint unusable, as one in the snapshot does.
func TestHeaderIsChecksummed(t *testing.T) {
	for _, off := range []int{5, 11, 13, 19, 21} {
		t.Run(fmt.Sprintf("byte %d", off), func(t *testing.T) {
			s := open(t)
			info, err := s.Save(stateWith(t, 10), 3)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(info.Path)
			b[off] ^= 0x01
			os.WriteFile(info.Path, b, 0o644)
			got, err := s.Load(meta.New())
			if !errors.Is(err, ErrNone) {
				t.Fatalf("Load with header byte %d flipped = %+v, %v; want ErrNone (the only checkpoint is damaged)", off, got, err)
			}
		})
	}
}

// Checkpoints written before the header checksum (format 1) still load.
func TestLoadsFormatOne(t *testing.T) {
	s := open(t)
	st := stateWith(t, 10)
	info, err := s.Save(st, 3)
	if err != nil {
		t.Fatal(err)
	}
	rewriteHeader(t, info.Path, 1, 10, 3)
	got := meta.New()
	loaded, err := s.Load(got)
	if err != nil || loaded.Index != 10 || loaded.Token != 3 || got.Digest() != st.Digest() {
		t.Fatalf("Load of a format 1 checkpoint = %+v, %v; want index 10, token 3, the saved state", loaded, err)
	}
	// And a damaged format 1 header is still caught by the index check.
	rewriteHeader(t, info.Path, 1, 11, 3)
	if _, err := verify(info.Path, meta.New()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify of a format 1 checkpoint whose header says 11 = %v; want ErrCorrupt", err)
	}
}

// A header whose index disagrees with the snapshot's is refused before the
// live state changes.
func TestMismatchLeavesStateUntouched(t *testing.T) {
	s := open(t)
	info, err := s.Save(stateWith(t, 10), 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []int{1, 2} {
		rewriteHeader(t, info.Path, version, 12, 3)
		live := stateWith(t, 3)
		before := live.Digest()
		if _, err := verify(info.Path, live); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("format %d: verify with header index 12, snapshot 10 = %v; want ErrCorrupt", version, err)
		}
		if got := live.Digest(); got != before || live.AppliedIndex() != 3 {
			t.Fatalf("format %d: the live state changed (applied %d) although the checkpoint was refused", version, live.AppliedIndex())
		}
	}
}

// A checkpoint received from a peer is fsynced before it is renamed into
// place.
func TestSaveFromSyncsBeforeRename(t *testing.T) {
	src := open(t)
	info, err := src.Save(stateWith(t, 10), 2)
	if err != nil {
		t.Fatal(err)
	}
	dst := open(t)
	var synced []string
	dst.sync = func(f *os.File) error {
		if _, err := os.Stat(f.Name()); err != nil {
			t.Errorf("sync of %s after it was renamed", f.Name())
		}
		synced = append(synced, filepath.Base(f.Name()))
		return f.Sync()
	}
	f, err := os.Open(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := dst.SaveFrom(f); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || !strings.HasPrefix(synced[0], ".recv-") {
		t.Fatalf("files synced while receiving: %v; want the received temporary file", synced)
	}
}
