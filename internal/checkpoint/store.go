package checkpoint

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gfsha/master/internal/fencing"
	"github.com/gfsha/master/internal/meta"
)

// Sentinel errors.
var (
	// ErrNone: the store holds no usable checkpoint.
	ErrNone = errors.New("checkpoint: none")
	// ErrCorrupt: a checkpoint failed verification.
	ErrCorrupt = errors.New("checkpoint: corrupt")
)

// The file formats (see the package doc). Version 2 checksums its header;
// version 1 files (no header checksum) still load.
const (
	magicV1     = "GCK1"
	magicV2     = "GCK2"
	headerLenV1 = 4 + 8 + 8
	headerLenV2 = headerLenV1 + 4
	prefix      = "ckpt-"
	suffix      = ".snap"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeHeader is a version 2 header: magic, index, token, and the CRC-32C
// of those 20 bytes.
func encodeHeader(index uint64, token fencing.Token) []byte {
	hdr := make([]byte, 0, headerLenV2)
	hdr = append(hdr, magicV2...)
	hdr = binary.BigEndian.AppendUint64(hdr, index)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(token))
	return binary.BigEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
}

// readHeader reads a version 1 or 2 header from br.
func readHeader(br *bufio.Reader) (index uint64, token fencing.Token, err error) {
	hdr := make([]byte, headerLenV1, headerLenV2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return 0, 0, fmt.Errorf("bad header: %v: %w", err, ErrCorrupt)
	}
	switch string(hdr[:4]) {
	case magicV1:
	case magicV2:
		hdr = hdr[:headerLenV2]
		if _, err := io.ReadFull(br, hdr[headerLenV1:]); err != nil {
			return 0, 0, fmt.Errorf("bad header: %v: %w", err, ErrCorrupt)
		}
		if got, want := crc32.Checksum(hdr[:headerLenV1], castagnoli), binary.BigEndian.Uint32(hdr[headerLenV1:]); got != want {
			return 0, 0, fmt.Errorf("header checksum %08x, want %08x: %w", got, want, ErrCorrupt)
		}
	default:
		return 0, 0, fmt.Errorf("bad header: magic %q: %w", hdr[:4], ErrCorrupt)
	}
	return binary.BigEndian.Uint64(hdr[4:]), fencing.Token(binary.BigEndian.Uint64(hdr[12:])), nil
}

// Info describes one checkpoint.
type Info struct {
	Index uint64
	Token fencing.Token
	Path  string
	Size  int64
}

// Store is a directory of checkpoints. Save and Prune must not run
// concurrently with each other; Load and Open may.
type Store struct {
	dir  string
	keep int
	log  *slog.Logger
	// sync makes a file durable; tests observe it.
	sync func(*os.File) error
}

// Open makes the directory if needed. keep is how many checkpoints Prune
// leaves (at least 2, so a corrupt newest one has a fallback).
func Open(dir string, keep int, log *slog.Logger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: data dir %s: %w", dir, err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Store{dir: dir, keep: max(keep, 2), log: log, sync: (*os.File).Sync}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(index uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", prefix, index, suffix))
}

// List returns the checkpoints on disk, newest first (unverified).
func (s *Store) List() ([]Info, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var out []Info
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
			continue
		}
		idx, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix), 10, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Info{Index: idx, Path: filepath.Join(s.dir, name), Size: fi.Size()})
	}
	slices.SortFunc(out, func(a, b Info) int {
		switch {
		case a.Index > b.Index:
			return -1
		case a.Index < b.Index:
			return 1
		}
		return 0
	})
	return out, nil
}

// Save writes a checkpoint of st, tagged with token: the token of the last
// applied record or an older one (read it before calling Save), since replay
// after the checkpoint requires tokens not to decrease from it. The snapshot is taken into memory first (a consistent cut under
// the state's read lock, which stalls Apply only for that copy), then
// written to disk without holding anything.
func (s *Store) Save(st *meta.State, token fencing.Token) (Info, error) {
	var buf writerBuffer
	if err := st.Snapshot(&buf); err != nil {
		return Info{}, fmt.Errorf("checkpoint: %w", err)
	}
	snap := buf.b
	index, err := snapshotIndex(snap)
	if err != nil {
		return Info{}, err
	}
	return s.write(index, token, func(w io.Writer) error { _, err := w.Write(snap); return err })
}

// SaveFrom stores a checkpoint file received from a peer after verifying it
// completely (it is restored into a scratch state machine first), fsyncing
// it before the rename and the directory after, as Save does.
func (s *Store) SaveFrom(r io.Reader) (Info, error) {
	tmp, err := os.CreateTemp(s.dir, ".recv-*")
	if err != nil {
		return Info{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return Info{}, fmt.Errorf("checkpoint: receive: %w", err)
	}
	if err := s.sync(tmp); err != nil {
		tmp.Close()
		return Info{}, fmt.Errorf("checkpoint: receive: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, fmt.Errorf("checkpoint: receive: %w", err)
	}
	info, err := verify(tmp.Name(), meta.New())
	if err != nil {
		return Info{}, err
	}
	if err := syncRename(tmp.Name(), s.path(info.Index)); err != nil {
		return Info{}, err
	}
	info.Path = s.path(info.Index)
	return info, nil
}

func (s *Store) write(index uint64, token fencing.Token, body func(io.Writer) error) (Info, error) {
	start := time.Now()
	tmp, err := os.CreateTemp(s.dir, ".ckpt-*")
	if err != nil {
		return Info{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	_, err = bw.Write(encodeHeader(index, token))
	if err == nil {
		err = body(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = s.sync(tmp)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Info{}, fmt.Errorf("checkpoint: write at index %d: %w", index, err)
	}
	path := s.path(index)
	if err := syncRename(tmp.Name(), path); err != nil {
		return Info{}, err
	}
	fi, _ := os.Stat(path)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	s.log.Info("checkpoint written", "index", index, "bytes", size, "took", time.Since(start))
	return Info{Index: index, Token: token, Path: path, Size: size}, nil
}

func syncRename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	d, err := os.Open(filepath.Dir(to))
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("checkpoint: sync dir: %w", err)
	}
	return nil
}

// Load restores st from the newest checkpoint that verifies, logging and
// skipping damaged ones (they are renamed *.corrupt, never deleted). It
// returns ErrNone when there is none.
func (s *Store) Load(st *meta.State) (Info, error) {
	list, err := s.List()
	if err != nil {
		return Info{}, err
	}
	for _, c := range list {
		start := time.Now()
		s.log.Info("loading checkpoint", "index", c.Index, "bytes", c.Size)
		info, err := verify(c.Path, st)
		if err != nil {
			s.log.Error("checkpoint unusable; falling back to the previous one", "path", c.Path, "err", err)
			os.Rename(c.Path, c.Path+".corrupt")
			continue
		}
		s.log.Info("checkpoint loaded", "index", info.Index, "files", st.Files(), "took", time.Since(start))
		return info, nil
	}
	return Info{}, ErrNone
}

// verify restores st from the checkpoint file at path. Everything is
// checked before st changes (the header's checksum and its index against
// the snapshot's, then the snapshot's own checksum inside Restore, which
// swaps the state in only once the whole snapshot verified): on error st
// is unchanged.
func verify(path string, st *meta.State) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	index, token, err := readHeader(br)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	info := Info{Index: index, Token: token, Path: path}
	head, _ := br.Peek(8 + binary.MaxVarintLen64) // short at the end of a tiny file
	snapIdx, err := snapshotIndex(head)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	if snapIdx != info.Index {
		return Info{}, fmt.Errorf("%s: header says index %d, snapshot %d: %w", path, info.Index, snapIdx, ErrCorrupt)
	}
	if err := st.Restore(br); err != nil {
		return Info{}, fmt.Errorf("%s: %v: %w", path, err, ErrCorrupt)
	}
	if fi, err := f.Stat(); err == nil {
		info.Size = fi.Size()
	}
	return info, nil
}

// Prune removes all but the newest keep checkpoints.
func (s *Store) Prune() error {
	list, err := s.List()
	if err != nil {
		return err
	}
	for _, c := range list[min(len(list), s.keep):] {
		if err := os.Remove(c.Path); err != nil {
			return fmt.Errorf("checkpoint: prune: %w", err)
		}
	}
	return nil
}

// PruneBelow removes every checkpoint below index (those the log can no
// longer replay from once it starts after index), whatever keep says.
func (s *Store) PruneBelow(index uint64) error {
	list, err := s.List()
	if err != nil {
		return err
	}
	for _, c := range list {
		if c.Index >= index {
			continue
		}
		if err := os.Remove(c.Path); err != nil {
			return fmt.Errorf("checkpoint: prune below %d: %w", index, err)
		}
		s.log.Info("checkpoint dropped: the log no longer reaches it", "index", c.Index, "log_starts_after", index)
	}
	return nil
}

// OpenLatest opens the newest checkpoint file for streaming to a peer.
func (s *Store) OpenLatest() (*os.File, Info, error) {
	list, err := s.List()
	if err != nil {
		return nil, Info{}, err
	}
	if len(list) == 0 {
		return nil, Info{}, ErrNone
	}
	f, err := os.Open(list[0].Path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("checkpoint: %w", err)
	}
	return f, list[0], nil
}

type writerBuffer struct{ b []byte }

func (w *writerBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// snapshotIndex reads the applied index from a snapshot's header: after the
// 8-byte magic+version, the first uvarint.
func snapshotIndex(snap []byte) (uint64, error) {
	if len(snap) < 9 {
		return 0, fmt.Errorf("snapshot too short: %w", ErrCorrupt)
	}
	v, n := binary.Uvarint(snap[8:])
	if n <= 0 {
		return 0, fmt.Errorf("snapshot header: %w", ErrCorrupt)
	}
	return v, nil
}
