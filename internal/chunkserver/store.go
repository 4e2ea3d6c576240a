package chunkserver

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// File is what the store needs of an open replica data file. Tests wrap it
// to inject faults (a disk that fills up).
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

// StoreOptions tune a Store.
type StoreOptions struct {
	// OpenFile opens replica data files (default: os.OpenFile).
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
}

// ChunkInfo describes one replica.
type ChunkInfo struct {
	Handle  uint64
	Version uint64
	Size    int64
}

// Store keeps chunk replicas as files under DIR/chunks: HANDLE.dat holds the
// bytes, HANDLE.meta the version, size and one CRC-32C per 64 KiB block.
// Every read verifies the checksums of the blocks it touches. A replica that
// fails them is moved to DIR/corrupt by Quarantine and no longer served.
//
// It is safe for concurrent use. Writes to one replica are serialized, and
// hold the replica for their whole duration; reads of a replica wait for a
// write in progress on it, so they never see a block whose checksum is not
// yet written.
type Store struct {
	dir     string // DIR/chunks
	corrupt string // DIR/corrupt
	open    func(name string, flag int, perm os.FileMode) (File, error)

	mu     sync.Mutex // guards chunks, gen and the metadata fields of every replica
	chunks map[uint64]*replica
	gen    uint64 // bumped on every change of the replica set, a version or a size
}

// replica is one chunk replica in memory.
type replica struct {
	data sync.RWMutex // held for writing by a write, a version change or a delete; for reading by a read

	// Guarded by Store.mu; changed only by a holder of data for writing.
	handle  uint64
	version uint64
	size    int64
	maxSize int64
	crcs    []uint32 // replaced, never changed in place: a copy taken under Store.mu stays valid
	gone    bool     // deleted or quarantined
}

func (r *replica) meta() replicaMeta {
	return replicaMeta{handle: r.handle, version: r.version, size: r.size, maxSize: r.maxSize, crcs: r.crcs}
}

// OpenStore opens the replicas under dir (made if missing). Leftovers of an
// interrupted create, write or copy are cleaned up: temporary files removed,
// data past the size the metadata describes cut off. A replica whose
// metadata cannot be read is quarantined, not served.
func OpenStore(dir string, o StoreOptions) (*Store, error) {
	s := &Store{
		dir:     filepath.Join(dir, "chunks"),
		corrupt: filepath.Join(dir, "corrupt"),
		open:    o.OpenFile,
		chunks:  map[uint64]*replica{},
	}
	if s.open == nil {
		s.open = func(name string, flag int, perm os.FileMode) (File, error) { return os.OpenFile(name, flag, perm) }
	}
	for _, d := range []string{s.dir, s.corrupt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %v: %w", d, err, ErrBadDir)
		}
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %v: %w", s.dir, err, ErrBadDir)
	}
	metas := map[uint64]bool{}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "."):
			os.Remove(filepath.Join(s.dir, name)) // a temporary file of an interrupted operation
		case strings.HasSuffix(name, ".meta"):
			h, err := strconv.ParseUint(strings.TrimSuffix(name, ".meta"), 16, 64)
			if err == nil {
				metas[h] = true
			}
		}
	}
	for h := range metas {
		if err := s.load(h); err != nil {
			s.quarantineFiles(h, err.Error())
		}
	}
	// Data files without metadata: an interrupted create or copy.
	for _, e := range ents {
		name := e.Name()
		if h, err := strconv.ParseUint(strings.TrimSuffix(name, ".dat"), 16, 64); err == nil && strings.HasSuffix(name, ".dat") && !metas[h] {
			os.Remove(filepath.Join(s.dir, name))
		}
	}
	return s, nil
}

func (s *Store) load(h uint64) error {
	b, err := os.ReadFile(s.metaPath(h))
	if err != nil {
		return err
	}
	m, err := unmarshalMeta(b)
	if err != nil {
		return err
	}
	if m.handle != h {
		return fmt.Errorf("metadata of chunk %d in the file of chunk %d", m.handle, h)
	}
	st, err := os.Stat(s.dataPath(h))
	if err != nil {
		return err
	}
	if st.Size() < m.size {
		return fmt.Errorf("data file holds %d bytes, metadata says %d", st.Size(), m.size)
	}
	if st.Size() > m.size {
		if err := os.Truncate(s.dataPath(h), m.size); err != nil {
			return err
		}
	}
	s.chunks[h] = &replica{handle: h, version: m.version, size: m.size, maxSize: m.maxSize, crcs: m.crcs}
	return nil
}

func (s *Store) dataPath(h uint64) string { return filepath.Join(s.dir, fmt.Sprintf("%016x.dat", h)) }
func (s *Store) metaPath(h uint64) string { return filepath.Join(s.dir, fmt.Sprintf("%016x.meta", h)) }

// List returns every replica, by handle.
func (s *Store) List() []ChunkInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChunkInfo, 0, len(s.chunks))
	for _, r := range s.chunks {
		out = append(out, ChunkInfo{Handle: r.handle, Version: r.version, Size: r.size})
	}
	slices.SortFunc(out, func(a, b ChunkInfo) int { return compareU64(a.Handle, b.Handle) })
	return out
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Get describes the replica of chunk h.
func (s *Store) Get(h uint64) (ChunkInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.chunks[h]
	if r == nil {
		return ChunkInfo{}, false
	}
	return ChunkInfo{Handle: h, Version: r.version, Size: r.size}, true
}

// Generation changes whenever a replica is added, removed, or changes
// version or size.
func (s *Store) Generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// FreeBytes is the free space of the store's file system.
func (s *Store) FreeBytes() int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// lookup returns the replica of h, or ErrNotFound.
func (s *Store) lookup(h uint64) (*replica, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.chunks[h]
	if r == nil {
		return nil, fmt.Errorf("chunk %d: %w", h, ErrNotFound)
	}
	return r, nil
}

// lockLive takes r's data lock for writing and checks that r is still in the
// store; on error the lock is not held.
func (s *Store) lockLive(r *replica) error {
	r.data.Lock()
	s.mu.Lock()
	gone := r.gone
	s.mu.Unlock()
	if gone {
		r.data.Unlock()
		return fmt.Errorf("chunk %d: deleted meanwhile: %w", r.handle, ErrNotFound)
	}
	return nil
}

// Create makes an empty replica of chunk h at version that may grow to
// maxSize bytes. Creating a replica that exists at the same version is a
// no-op (a retried command); at another version it fails with ErrExists.
func (s *Store) Create(h, version uint64, maxSize int64) error {
	if h == 0 || version == 0 || maxSize <= 0 {
		return fmt.Errorf("create chunk %d version %d max size %d: handle, version and size must be positive: %w", h, version, maxSize, ErrBadWrite)
	}
	s.mu.Lock()
	if r := s.chunks[h]; r != nil {
		v := r.version
		s.mu.Unlock()
		if v == version {
			return nil
		}
		return fmt.Errorf("create chunk %d version %d: a replica at version %d exists: %w", h, version, v, ErrExists)
	}
	r := &replica{handle: h, version: version, maxSize: maxSize}
	r.data.Lock() // nobody can use it before its files exist
	s.chunks[h] = r
	s.gen++
	s.mu.Unlock()
	defer r.data.Unlock()
	err := s.createFiles(r)
	if err != nil {
		s.mu.Lock()
		delete(s.chunks, h)
		r.gone = true
		s.gen++
		s.mu.Unlock()
		os.Remove(s.dataPath(h))
		return fmt.Errorf("create chunk %d: %w", h, err)
	}
	return nil
}

func (s *Store) createFiles(r *replica) error {
	f, err := s.open(s.dataPath(r.handle), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return diskError(err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return diskError(err)
	}
	return writeFileSync(s.metaPath(r.handle), r.meta().marshal())
}

// Delete removes the replica of chunk h; a missing replica is not an error.
// It waits for a write in progress on the replica.
func (s *Store) Delete(h uint64) error {
	s.mu.Lock()
	r := s.chunks[h]
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	r.data.Lock()
	defer r.data.Unlock()
	s.mu.Lock()
	if s.chunks[h] == r {
		delete(s.chunks, h)
		s.gen++
	}
	r.gone = true
	s.mu.Unlock()
	// Metadata first: a crash in between leaves a data file without
	// metadata, which OpenStore removes.
	errM := os.Remove(s.metaPath(h))
	errD := os.Remove(s.dataPath(h))
	for _, err := range []error{errM, errD} {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete chunk %d: %w", h, err)
		}
	}
	return syncDir(s.dir)
}

// SetVersion raises the replica of h from version from to version to. A
// replica already at to is left alone (a retried command); one at any other
// version fails with ErrVersion (a stale replica must not become current).
func (s *Store) SetVersion(h, from, to uint64) error {
	r, err := s.lookup(h)
	if err != nil {
		return err
	}
	if err := s.lockLive(r); err != nil {
		return err
	}
	defer r.data.Unlock()
	s.mu.Lock()
	m := r.meta()
	s.mu.Unlock()
	switch {
	case m.version == to:
		return nil
	case m.version != from:
		return fmt.Errorf("set version of chunk %d from %d to %d: the replica has version %d: %w", h, from, to, m.version, ErrVersion)
	case to <= from:
		return fmt.Errorf("set version of chunk %d from %d to %d: versions only go up: %w", h, from, to, ErrVersion)
	}
	m.version = to
	if err := writeFileSync(s.metaPath(h), m.marshal()); err != nil {
		return fmt.Errorf("set version of chunk %d: %w", h, err)
	}
	s.mu.Lock()
	r.version = to
	s.gen++
	s.mu.Unlock()
	return nil
}

// Quarantine moves the replica of h out of the store, into DIR/corrupt, so
// that it is neither served nor reported; the master then re-replicates the
// chunk from a good copy.
func (s *Store) Quarantine(h uint64, reason string) {
	s.mu.Lock()
	r := s.chunks[h]
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.data.Lock()
	defer r.data.Unlock()
	s.mu.Lock()
	if s.chunks[h] != r {
		s.mu.Unlock()
		return
	}
	delete(s.chunks, h)
	r.gone = true
	s.gen++
	s.mu.Unlock()
	s.quarantineFiles(h, reason)
}

func (s *Store) quarantineFiles(h uint64, reason string) {
	stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
	for _, p := range []string{s.metaPath(h), s.dataPath(h)} {
		os.Rename(p, filepath.Join(s.corrupt, filepath.Base(p)+"."+stamp))
	}
	os.WriteFile(filepath.Join(s.corrupt, fmt.Sprintf("%016x.why.%s", h, stamp)), []byte(reason+"\n"), 0o644)
	syncDir(s.dir)
}

// Read reads length bytes of the replica of h at version from offset
// (fewer at the end of the replica), verifying the checksum of every block
// it touches, and hands them to fn in pieces of at most about 1 MiB. It
// holds the replica only while it reads each piece, so a slow reader does
// not hold up writes; if the version changes between pieces it fails with
// ErrVersion. A checksum mismatch fails with ErrCorrupt: the caller must not
// serve the replica (see Quarantine).
func (s *Store) Read(h, version uint64, offset, length int64, fn func([]byte) error) error {
	if offset < 0 || length < 0 {
		return fmt.Errorf("read chunk %d: offset %d, length %d: %w", h, offset, length, ErrBadWrite)
	}
	r, err := s.lookup(h)
	if err != nil {
		return err
	}
	const piece = 16 * BlockSize // 1 MiB
	buf := make([]byte, piece)
	end := offset + length
	for pos := offset; pos < end; {
		n, done, err := s.readPiece(r, version, pos, min(end-pos, piece-(pos%BlockSize)), buf)
		if err != nil {
			return err
		}
		if n > 0 {
			if err := fn(buf[pos%BlockSize : pos%BlockSize+n]); err != nil {
				return err
			}
		}
		pos += n
		if done {
			return nil
		}
	}
	return nil
}

// readPiece reads up to want bytes at pos (pos%BlockSize + want <= len(buf))
// into buf[pos%BlockSize:], verifying whole blocks. done reports the end of
// the replica.
func (s *Store) readPiece(r *replica, version uint64, pos, want int64, buf []byte) (int64, bool, error) {
	r.data.RLock()
	defer r.data.RUnlock()
	s.mu.Lock()
	gone, v, size, crcs := r.gone, r.version, r.size, r.crcs
	s.mu.Unlock()
	switch {
	case gone:
		return 0, true, fmt.Errorf("chunk %d: %w", r.handle, ErrNotFound)
	case v != version:
		return 0, true, fmt.Errorf("read chunk %d version %d: the replica has version %d: %w", r.handle, version, v, ErrVersion)
	case pos >= size:
		return 0, true, nil
	}
	n := min(want, size-pos)
	first := pos / BlockSize
	last := (pos + n - 1) / BlockSize
	start := first * BlockSize
	stop := min((last+1)*BlockSize, size)
	f, err := s.open(s.dataPath(r.handle), os.O_RDONLY, 0)
	if err != nil {
		return 0, true, fmt.Errorf("read chunk %d: %w", r.handle, err)
	}
	defer f.Close()
	b := buf[:stop-start]
	if _, err := f.ReadAt(b, start); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, true, fmt.Errorf("read chunk %d: data file shorter than its size %d: %w", r.handle, size, ErrCorrupt)
		}
		return 0, true, fmt.Errorf("read chunk %d: %w", r.handle, err)
	}
	for i := first; i <= last; i++ {
		blk := b[(i-first)*BlockSize : min((i-first+1)*BlockSize, stop-start)]
		if got := crc32.Checksum(blk, castagnoli); got != crcs[i] {
			return 0, true, fmt.Errorf("read chunk %d version %d: block %d (bytes %d..%d) has CRC-32C %08x, want %08x: %w",
				r.handle, version, i, i*BlockSize, i*BlockSize+int64(len(blk)), got, crcs[i], ErrCorrupt)
		}
	}
	return n, pos+n >= size, nil
}

// Verify reads the whole replica of h and checks every checksum.
func (s *Store) Verify(h uint64) error {
	info, ok := s.Get(h)
	if !ok {
		return fmt.Errorf("chunk %d: %w", h, ErrNotFound)
	}
	return s.Read(h, info.Version, 0, info.Size, func([]byte) error { return nil })
}

// Write is one write in progress to a replica; it holds the replica until
// Commit or Abort.
type Write struct {
	s        *Store
	r        *replica
	f        File
	version  uint64
	offset   int64
	end      int64 // offset + announced length
	pos      int64 // next byte to write
	oldSize  int64
	oldCRCs  []uint32
	newCRCs  map[int64]uint32 // block -> checksum, for the blocks written
	cur      uint32           // running checksum of the block pos is in
	suffix   []byte           // old bytes of the last block after end, still valid
	finished bool
}

// BeginWrite starts a write of length bytes at offset to the replica of h,
// which must be at version. The write must not leave a hole (offset <= the
// replica's size) nor pass the chunk's maximum size. It holds the replica
// until Commit or Abort: the caller must call one of them.
func (s *Store) BeginWrite(h, version uint64, offset, length int64) (*Write, error) {
	r, err := s.lookup(h)
	if err != nil {
		return nil, err
	}
	if err := s.lockLive(r); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.data.Unlock()
		}
	}()
	s.mu.Lock()
	m := r.meta()
	s.mu.Unlock()
	switch {
	case m.version != version:
		return nil, fmt.Errorf("write chunk %d version %d: the replica has version %d: %w", h, version, m.version, ErrVersion)
	case offset < 0 || length < 0 || offset > m.size:
		return nil, fmt.Errorf("write chunk %d at %d (%d bytes): the replica holds %d bytes; a write may not leave a hole: %w",
			h, offset, length, m.size, ErrBadWrite)
	case offset+length > m.maxSize:
		return nil, fmt.Errorf("write chunk %d at %d (%d bytes): beyond the chunk size %d: %w", h, offset, length, m.maxSize, ErrTooLarge)
	}
	f, err := s.open(s.dataPath(h), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("write chunk %d: %w", h, diskError(err))
	}
	w := &Write{s: s, r: r, f: f, version: version, offset: offset, end: offset + length, pos: offset,
		oldSize: m.size, oldCRCs: m.crcs, newCRCs: map[int64]uint32{}}
	// The old bytes that share a block with the write stay covered by the
	// block's new checksum: verify them now, so that corruption is never
	// blessed with a fresh checksum.
	if length > 0 {
		first, last := offset/BlockSize, (w.end-1)/BlockSize
		if offset%BlockSize != 0 {
			blk, err := w.oldBlock(first)
			if err != nil {
				f.Close()
				return nil, err
			}
			w.cur = crc32.Update(0, castagnoli, blk[:offset%BlockSize])
		}
		if w.end%BlockSize != 0 && w.end < m.size {
			blk, err := w.oldBlock(last)
			if err != nil {
				f.Close()
				return nil, err
			}
			if int64(len(blk)) > w.end%BlockSize {
				w.suffix = blk[w.end%BlockSize:]
			}
		}
	}
	ok = true
	return w, nil
}

// oldBlock reads block i as it was before the write, verified.
func (w *Write) oldBlock(i int64) ([]byte, error) {
	start := i * BlockSize
	blk := make([]byte, min(BlockSize, w.oldSize-start))
	if _, err := w.f.ReadAt(blk, start); err != nil {
		return nil, fmt.Errorf("write chunk %d: read block %d: %w", w.r.handle, i, err)
	}
	if got := crc32.Checksum(blk, castagnoli); got != w.oldCRCs[i] {
		return nil, fmt.Errorf("write chunk %d: block %d has CRC-32C %08x, want %08x: %w", w.r.handle, i, got, w.oldCRCs[i], ErrCorrupt)
	}
	return blk, nil
}

// Write writes p at the write's current position.
func (w *Write) Write(p []byte) (int, error) {
	total := len(p)
	if w.pos+int64(len(p)) > w.end {
		return 0, fmt.Errorf("write chunk %d: %d bytes past the %d announced: %w", w.r.handle, w.pos+int64(len(p))-w.end, w.end-w.offset, ErrBadWrite)
	}
	if _, err := w.f.WriteAt(p, w.pos); err != nil {
		return 0, fmt.Errorf("write chunk %d at %d: %w", w.r.handle, w.pos, diskError(err))
	}
	for len(p) > 0 {
		n := min(int64(len(p)), BlockSize-w.pos%BlockSize)
		w.cur = crc32.Update(w.cur, castagnoli, p[:n])
		w.pos += n
		p = p[n:]
		if w.pos%BlockSize == 0 {
			w.newCRCs[w.pos/BlockSize-1] = w.cur
			w.cur = 0
		}
	}
	return total, nil
}

// Commit makes the write durable (data fsynced, then the metadata replaced)
// and releases the replica. It fails if fewer bytes came than announced.
func (w *Write) Commit() error {
	if w.pos != w.end {
		err := fmt.Errorf("write chunk %d: got %d of %d announced bytes: %w", w.r.handle, w.pos-w.offset, w.end-w.offset, ErrBadWrite)
		w.Abort()
		return err
	}
	if w.end%BlockSize != 0 && w.end > w.offset {
		w.newCRCs[w.end/BlockSize] = crc32.Update(w.cur, castagnoli, w.suffix)
	}
	newSize := max(w.oldSize, w.end)
	crcs := make([]uint32, blocks(newSize))
	copy(crcs, w.oldCRCs)
	for i, c := range w.newCRCs {
		crcs[i] = c
	}
	if err := w.f.Sync(); err != nil {
		err = fmt.Errorf("write chunk %d: fsync: %w", w.r.handle, diskError(err))
		w.Abort()
		return err
	}
	s := w.s
	s.mu.Lock()
	m := w.r.meta()
	s.mu.Unlock()
	m.size, m.crcs = newSize, crcs
	if err := writeFileSync(s.metaPath(w.r.handle), m.marshal()); err != nil {
		err = fmt.Errorf("write chunk %d: metadata: %w", w.r.handle, err)
		w.Abort()
		return err
	}
	s.mu.Lock()
	w.r.size, w.r.crcs = newSize, crcs
	s.gen++
	s.mu.Unlock()
	w.finish()
	return nil
}

// Abort gives the write up and releases the replica. Bytes written past the
// old size are cut off, so an append that failed (a full disk) leaves the
// replica exactly as it was. Bytes overwritten below the old size are, as
// GFS says, undefined until a retry rewrites them: their blocks' checksums
// are recomputed so that the replica stays readable.
func (w *Write) Abort() {
	if w.finished {
		return
	}
	if w.pos > w.oldSize || w.end > w.oldSize {
		w.f.Truncate(w.oldSize)
	}
	if w.offset < w.oldSize && w.pos > w.offset {
		w.rechecksum(w.offset/BlockSize, (min(w.pos, w.oldSize)-1)/BlockSize)
	}
	w.finish()
}

func (w *Write) rechecksum(first, last int64) {
	crcs := slices.Clone(w.oldCRCs)
	for i := first; i <= last; i++ {
		blk := make([]byte, min(BlockSize, w.oldSize-i*BlockSize))
		if _, err := w.f.ReadAt(blk, i*BlockSize); err != nil {
			return // the replica fails its checksums on read and is quarantined
		}
		crcs[i] = crc32.Checksum(blk, castagnoli)
	}
	s := w.s
	s.mu.Lock()
	m := w.r.meta()
	s.mu.Unlock()
	m.crcs = crcs
	if writeFileSync(s.metaPath(w.r.handle), m.marshal()) == nil {
		s.mu.Lock()
		w.r.crcs = crcs
		s.gen++
		s.mu.Unlock()
	}
}

func (w *Write) finish() {
	w.finished = true
	w.f.Close()
	w.r.data.Unlock()
}

// Install stores a whole replica of chunk h at version read from r (a copy
// from another chunkserver): written to a temporary file, checksummed,
// fsynced, then put in place. An existing replica at a lower version (stale)
// is replaced; one at the same version is kept and r is not read.
func (s *Store) Install(h, version uint64, maxSize int64, r io.Reader) (ChunkInfo, error) {
	s.mu.Lock()
	old := s.chunks[h]
	s.mu.Unlock()
	if old != nil {
		if err := s.lockLive(old); err == nil {
			s.mu.Lock()
			v, size := old.version, old.size
			s.mu.Unlock()
			old.data.Unlock()
			switch {
			case v == version:
				return ChunkInfo{Handle: h, Version: v, Size: size}, nil
			case v > version:
				return ChunkInfo{}, fmt.Errorf("copy chunk %d version %d: a newer replica (version %d) is here: %w", h, version, v, ErrVersion)
			}
		}
	}
	tmp := filepath.Join(s.dir, fmt.Sprintf(".%016x.copy-%d", h, time.Now().UnixNano()))
	f, err := s.open(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return ChunkInfo{}, fmt.Errorf("copy chunk %d: %w", h, diskError(err))
	}
	defer os.Remove(tmp)
	var crcs []uint32
	var size int64
	var cur uint32
	buf := make([]byte, 16*BlockSize)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if size+int64(n) > maxSize {
				f.Close()
				return ChunkInfo{}, fmt.Errorf("copy chunk %d: more than the chunk size %d: %w", h, maxSize, ErrTooLarge)
			}
			if _, err := f.WriteAt(buf[:n], size); err != nil {
				f.Close()
				return ChunkInfo{}, fmt.Errorf("copy chunk %d: %w", h, diskError(err))
			}
			for p := buf[:n]; len(p) > 0; {
				k := min(int64(len(p)), BlockSize-size%BlockSize)
				cur = crc32.Update(cur, castagnoli, p[:k])
				size += k
				p = p[k:]
				if size%BlockSize == 0 {
					crcs = append(crcs, cur)
					cur = 0
				}
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			f.Close()
			return ChunkInfo{}, fmt.Errorf("copy chunk %d: %w", h, rerr)
		}
	}
	if size%BlockSize != 0 {
		crcs = append(crcs, cur)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return ChunkInfo{}, fmt.Errorf("copy chunk %d: fsync: %w", h, diskError(err))
	}
	f.Close()
	nr := &replica{handle: h, version: version, size: size, maxSize: maxSize, crcs: crcs}
	nr.data.Lock()
	defer nr.data.Unlock()
	s.mu.Lock()
	prev := s.chunks[h]
	if prev != nil && prev.version >= version {
		s.mu.Unlock()
		return ChunkInfo{Handle: h, Version: prev.version, Size: prev.size}, nil
	}
	if prev != nil {
		prev.gone = true
	}
	s.chunks[h] = nr
	s.gen++
	s.mu.Unlock()
	fail := func(err error) (ChunkInfo, error) {
		s.mu.Lock()
		if s.chunks[h] == nr {
			delete(s.chunks, h)
			s.gen++
		}
		nr.gone = true
		s.mu.Unlock()
		os.Remove(s.metaPath(h))
		os.Remove(s.dataPath(h))
		return ChunkInfo{}, fmt.Errorf("copy chunk %d: %w", h, err)
	}
	if prev != nil {
		// The stale replica may be in use by a reader; its files go now.
		prev.data.Lock()
		os.Remove(s.metaPath(h))
		prev.data.Unlock()
	}
	if err := os.Rename(tmp, s.dataPath(h)); err != nil {
		return fail(err)
	}
	if err := writeFileSync(s.metaPath(h), nr.meta().marshal()); err != nil {
		return fail(err)
	}
	return ChunkInfo{Handle: h, Version: version, Size: size}, nil
}
