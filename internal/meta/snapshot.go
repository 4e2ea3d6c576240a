package meta

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
)

// The snapshot format, version 3. All integers are uvarints unless noted.
//
//	magic    "GFSMETA" and the version byte 3
//	header   applied index, next handle, files, dirs (root included), chunks,
//	         the root's mtime (varint)
//	tree     the root directory, where a directory is its entry count and
//	         then its entries in ascending byte order of name, each entry:
//	           name length, name, kind byte (0 file, 1 directory), mtime
//	           (varint, Unix nanoseconds), then
//	           file:      size (varint), chunk count, (handle, version) per chunk
//	           directory: its own entry count and entries, recursively
//
//	dedup    record count, then records by ascending index, each:
//	           client id length, client id, seq, index, error code byte,
//	           message length, message, handle, version
//	clock    the log time, unix nanoseconds (varint)              (version >= 2)
//	sessions session count, then sessions from least to most      (version >= 2)
//	         recently active, each: id, last activity (varint), lane count,
//	         then lanes in ascending byte order of name, each: name length,
//	         name, seq, error code byte, message length, message, handle,
//	         version
//	trailer  CRC-32C (Castagnoli) of everything above, 4 bytes big-endian
//
// Version 2 is version 3 without the mtimes (every mtime reads as 0); version
// 1 is version 2 without clock and sessions. Restore reads all three;
// Snapshot writes version 3. The encoding is canonical (one state, one byte
// string), so the digest is the SHA-256 of everything but the trailer.
const (
	snapMagic   = "GFSMETA"
	snapVersion = 3
	// snapVersion1 is the first format: no mtimes, no clock, no sessions.
	snapVersion1 = 1
	// snapVersionNoMtime has the clock and the sessions but no mtimes.
	snapVersionNoMtime = 2

	kindFile = 0
	kindDir  = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot writes the whole state to w: the tree, AppliedIndex, the
// next-handle counter and the dedup table, followed by a CRC-32C of it all.
// It holds the read lock throughout, so the snapshot is a consistent cut and
// Apply waits for it; reads go on. The output is written through a
// bufio.Writer; w need not be buffered.
func (s *State) Snapshot(w io.Writer) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	s.encodeLocked(bw)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("snapshot at index %d: %w", s.applied, err)
	}
	if _, err := w.Write(binary.BigEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("snapshot at index %d: %w", s.applied, err)
	}
	return nil
}

// Digest returns the hex SHA-256 of the canonical encoding of the whole state
// (the snapshot without its trailer): the tree walked in sorted order,
// AppliedIndex, the next-handle counter and the dedup table. Replicas that
// applied the same entries have the same digest; states that differ in any
// of these have different digests.
func (s *State) Digest() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := sha256.New()
	bw := bufio.NewWriterSize(h, 64<<10)
	s.encodeLocked(bw)
	bw.Flush() // a hash never fails to write
	return hex.EncodeToString(h.Sum(nil))
}

// encodeLocked writes the canonical encoding of the state (without trailer).
// Write errors stick in w and are reported by its Flush.
func (s *State) encodeLocked(w *bufio.Writer) {
	b := w.AvailableBuffer()
	b = append(b, snapMagic...)
	b = append(b, snapVersion)
	b = binary.AppendUvarint(b, s.applied)
	b = binary.AppendUvarint(b, s.nextHandle)
	b = binary.AppendUvarint(b, uint64(s.files))
	b = binary.AppendUvarint(b, uint64(s.dirs))
	b = binary.AppendUvarint(b, uint64(len(s.handles)))
	b = binary.AppendVarint(b, s.root.mtime)
	w.Write(b)
	encodeDir(w, s.root, nil)

	b = w.AvailableBuffer()
	b = binary.AppendUvarint(b, uint64(len(s.dedup.clients)))
	w.Write(b)
	for c := s.dedup.head; c != nil; c = c.next {
		b = w.AvailableBuffer()
		b = binary.AppendUvarint(b, uint64(len(c.id)))
		b = append(b, c.id...)
		b = binary.AppendUvarint(b, c.seq)
		b = binary.AppendUvarint(b, c.index)
		b = append(b, c.code)
		b = binary.AppendUvarint(b, uint64(len(c.msg)))
		b = append(b, c.msg...)
		b = binary.AppendUvarint(b, c.handle)
		b = binary.AppendUvarint(b, c.version)
		w.Write(b)
	}

	b = w.AvailableBuffer()
	b = binary.AppendVarint(b, s.clock)
	b = binary.AppendUvarint(b, uint64(len(s.sessions.byID)))
	w.Write(b)
	var names []string
	for ss := s.sessions.head; ss != nil; ss = ss.next {
		b = w.AvailableBuffer()
		b = binary.AppendUvarint(b, ss.id)
		b = binary.AppendVarint(b, ss.active)
		b = binary.AppendUvarint(b, uint64(len(ss.lanes)))
		w.Write(b)
		names = names[:0]
		for name := range ss.lanes {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			l := ss.lanes[name]
			b = w.AvailableBuffer()
			b = binary.AppendUvarint(b, uint64(len(name)))
			b = append(b, name...)
			b = binary.AppendUvarint(b, l.seq)
			b = append(b, l.code)
			b = binary.AppendUvarint(b, uint64(len(l.msg)))
			b = append(b, l.msg...)
			b = binary.AppendUvarint(b, l.handle)
			b = binary.AppendUvarint(b, l.version)
			w.Write(b)
		}
	}
}

// encodeDir writes dir's entries in sorted order, recursively. names holds
// one reusable slice of names per depth below dir.
func encodeDir(w *bufio.Writer, dir *node, names [][]string) [][]string {
	if len(names) == 0 {
		names = append(names, nil)
	}
	sorted := names[0][:0]
	for name := range dir.children {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	w.Write(binary.AppendUvarint(w.AvailableBuffer(), uint64(len(sorted))))
	for _, name := range sorted {
		n := dir.children[name]
		b := w.AvailableBuffer()
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		if n.dir() {
			b = append(b, kindDir)
			w.Write(binary.AppendVarint(b, n.mtime))
			deeper := encodeDir(w, n, names[1:])
			names = append(names[:1], deeper...)
			continue
		}
		b = append(b, kindFile)
		b = binary.AppendVarint(b, n.mtime)
		b = binary.AppendVarint(b, n.size)
		b = binary.AppendUvarint(b, uint64(len(n.chunks)))
		for _, c := range n.chunks {
			b = binary.AppendUvarint(b, c.Handle)
			b = binary.AppendUvarint(b, c.Version)
		}
		w.Write(b)
	}
	clear(sorted)
	names[0] = sorted[:0]
	return names
}

// Restore replaces the state with the snapshot read from r, which must hold
// exactly one snapshot and nothing after it. It verifies the checksum and
// every invariant of the state (valid, sorted, unique names; path lengths;
// counts; unique chunk handles below the next-handle counter; the dedup
// table's order and bounds). On any error, an error wrapping ErrCorrupt for
// a bad snapshot or the reader's own error, the state is left unchanged.
// Counts in the snapshot are never trusted for allocation: memory grows with
// the bytes actually read. The checksum guards against accidental damage, not
// against a forger. Restore reads r through its own buffer (r need not be
// buffered) and must not be called concurrently with Apply.
func (s *State) Restore(r io.Reader) error {
	d := &decoder{r: r, buf: make([]byte, 256<<10)}
	ns := d.state(s.dedup.limit, s.sessions.limits)
	if d.err != nil {
		return fmt.Errorf("restore: %w", d.err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.root, s.applied, s.nextHandle = ns.root, ns.applied, ns.nextHandle
	s.files, s.dirs, s.handles, s.dedup = ns.files, ns.dirs, ns.handles, ns.dedup
	s.clock, s.sessions = ns.clock, ns.sessions
	return nil
}

// decoder reads a snapshot through its own buffer, computing the CRC of the
// bytes consumed as it goes. Its methods do nothing once err is set.
type decoder struct {
	r      io.Reader
	buf    []byte
	pos    int    // next byte to consume
	end    int    // end of the bytes read into buf
	hashed int    // buf[:hashed] is already in crc; hashed <= pos
	crc    uint32 // CRC-32C of the bytes consumed before buf[hashed]
	off    int64  // stream offset of buf[0]
	eof    bool   // r returned io.EOF
	err    error  // first error
	mtimes bool   // the format carries modification times (version 3)

	// Scratch space, so that every allocation is sized by what was actually
	// read rather than by a count the snapshot claims (which may be corrupt).
	levels [][]namedNode // per directory depth: the entries read so far
	chunks []Chunk       // the chunks of the file being read
	owners []chunkOwner  // every chunk read, for the handle index
}

type namedNode struct {
	name string
	n    *node
}

type chunkOwner struct {
	handle uint64
	file   *node
}

// fill tries to have at least need (<= len(buf)) unconsumed bytes in buf;
// it may end with fewer at the end of the stream.
func (d *decoder) fill(need int) {
	if d.end-d.pos >= need || d.eof || d.err != nil {
		return
	}
	d.crc = crc32.Update(d.crc, castagnoli, d.buf[d.hashed:d.pos])
	d.off += int64(d.pos)
	d.end = copy(d.buf, d.buf[d.pos:d.end])
	d.pos, d.hashed = 0, 0
	for empty := 0; d.end < need; {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		switch {
		case err == io.EOF:
			d.eof = true
			return
		case err != nil:
			d.err = fmt.Errorf("read snapshot at byte %d: %w", d.off+int64(d.end), err)
			return
		case n == 0:
			if empty++; empty > 100 {
				d.err = fmt.Errorf("read snapshot at byte %d: %w", d.off+int64(d.end), io.ErrNoProgress)
				return
			}
		}
	}
}

func (d *decoder) corrupt(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("byte %d: %s: %w", d.off+int64(d.pos), fmt.Sprintf(format, args...), ErrCorrupt)
	}
}

func (d *decoder) truncated() {
	d.corrupt("snapshot is truncated")
}

func (d *decoder) uvarint() uint64 {
	d.fill(binary.MaxVarintLen64)
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.pos:d.end])
	switch {
	case n == 0:
		d.truncated()
	case n < 0:
		d.corrupt("varint overflows 64 bits")
	}
	if n <= 0 {
		return 0
	}
	d.pos += n
	return v
}

func (d *decoder) varint() int64 {
	d.fill(binary.MaxVarintLen64)
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.pos:d.end])
	switch {
	case n == 0:
		d.truncated()
	case n < 0:
		d.corrupt("varint overflows 64 bits")
	}
	if n <= 0 {
		return 0
	}
	d.pos += n
	return v
}

// bytes consumes n (<= len(buf)) bytes and returns them; the slice is valid
// until the next call.
func (d *decoder) bytes(n int) []byte {
	d.fill(n)
	if d.err != nil {
		return nil
	}
	if d.end-d.pos < n {
		d.truncated()
		return nil
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b
}

// mtime reads a modification time, or returns 0 for a format without them.
func (d *decoder) mtime() int64 {
	if !d.mtimes {
		return 0
	}
	return d.varint()
}

func (d *decoder) byte() byte {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

// count reads an entry count and checks it against limit.
func (d *decoder) count(what string, limit uint64) uint64 {
	n := d.uvarint()
	if n > limit {
		d.corrupt("%s %d exceeds %d", what, n, limit)
		return 0
	}
	return n
}

// state decodes a whole snapshot, trailer and end of stream included.
func (d *decoder) state(dedupLimit int, limits sessionLimits) *State {
	magic := d.bytes(len(snapMagic) + 1)
	if d.err != nil {
		return nil
	}
	if string(magic[:len(snapMagic)]) != snapMagic {
		d.corrupt("not a metadata snapshot (bad magic)")
		return nil
	}
	version := magic[len(snapMagic)]
	switch version {
	case snapVersion:
		d.mtimes = true
	case snapVersion1, snapVersionNoMtime:
	default:
		d.corrupt("unknown snapshot format version %d (want %d, %d or %d)", version, snapVersion1, snapVersionNoMtime, snapVersion)
		return nil
	}
	s := &State{
		applied:    d.uvarint(),
		nextHandle: d.uvarint(),
		dedup:      newDedupTable(dedupLimit),
		sessions:   newSessionTable(limits),
	}
	files, dirs, chunks := d.uvarint(), d.uvarint(), d.uvarint()
	if d.err != nil {
		return nil
	}
	s.root = &node{mtime: d.mtime()}
	s.dirs = 1
	d.dir(s, s.root, 0, 0)
	if d.err != nil {
		return nil
	}
	if uint64(s.files) != files || uint64(s.dirs) != dirs || uint64(len(d.owners)) != chunks {
		d.corrupt("tree has %d files, %d dirs, %d chunks; header says %d, %d, %d",
			s.files, s.dirs, len(d.owners), files, dirs, chunks)
		return nil
	}
	s.handles = make(map[uint64]*node, len(d.owners))
	for _, o := range d.owners {
		if s.handles[o.handle] != nil {
			d.corrupt("chunk handle %d appears twice", o.handle)
			return nil
		}
		s.handles[o.handle] = o.file
	}
	d.owners = nil
	d.dedupTable(s)
	if version >= 2 {
		d.sessionTable(s)
	}

	want := crc32.Update(d.crc, castagnoli, d.buf[d.hashed:d.pos])
	d.hashed = d.pos
	trailer := d.bytes(4)
	if d.err != nil {
		return nil
	}
	if got := binary.BigEndian.Uint32(trailer); got != want {
		d.corrupt("checksum %08x does not match contents (%08x)", got, want)
		return nil
	}
	d.fill(1)
	if d.err == nil && d.end > d.pos {
		d.corrupt("unexpected data after the checksum")
	}
	if d.err != nil {
		return nil
	}
	return s
}

// dir decodes the entries of directory dir, at the given depth (0 for the
// root) and whose path is pathLen bytes long (0 for the root), into dir and
// the counters of s.
func (d *decoder) dir(s *State, dir *node, depth, pathLen int) {
	n := d.uvarint()
	if d.err != nil {
		return
	}
	if depth == len(d.levels) {
		d.levels = append(d.levels, nil)
	}
	entries := d.levels[depth][:0]
	defer func() {
		clear(entries)
		d.levels[depth] = entries[:0]
	}()
	for i := uint64(0); i < n && d.err == nil; i++ {
		nameLen := d.uvarint()
		if d.err == nil && (nameLen == 0 || nameLen > MaxNameLen) {
			d.corrupt("name length %d is out of range", nameLen)
		}
		childLen := pathLen + 1 + int(nameLen)
		if d.err == nil && childLen > MaxPathLen {
			d.corrupt("path length %d exceeds %d", childLen, MaxPathLen)
		}
		nb := d.bytes(int(nameLen))
		if d.err != nil {
			return
		}
		if bytes.IndexByte(nb, '/') >= 0 || bytes.IndexByte(nb, 0) >= 0 || string(nb) == "." || string(nb) == ".." {
			d.corrupt("invalid name %q", nb)
			return
		}
		if i > 0 && string(nb) <= entries[i-1].name {
			d.corrupt("name %q does not sort after %q", nb, entries[i-1].name)
			return
		}
		e := namedNode{name: string(nb)}
		kind := d.byte()
		mtime := d.mtime()
		switch {
		case d.err != nil:
			return
		case kind == kindFile:
			e.n = d.file(s)
			e.n.mtime = mtime
			s.files++
		case kind == kindDir:
			e.n = &node{mtime: mtime}
			d.dir(s, e.n, depth+1, childLen)
			s.dirs++
		default:
			d.corrupt("unknown entry kind %d", kind)
			return
		}
		entries = append(entries, e)
	}
	dir.children = make(map[string]*node, len(entries))
	for _, e := range entries {
		dir.children[e.name] = e.n
	}
}

func (d *decoder) file(s *State) *node {
	f := &node{size: d.varint()}
	if f.size < 0 {
		d.corrupt("negative file size %d", f.size)
	}
	n := d.uvarint()
	d.chunks = d.chunks[:0]
	for i := uint64(0); i < n && d.err == nil; i++ {
		c := Chunk{Handle: d.uvarint(), Version: d.uvarint()}
		switch {
		case d.err != nil:
		case c.Handle == 0 || s.nextHandle != 0 && c.Handle >= s.nextHandle:
			d.corrupt("chunk handle %d outside [1, %d)", c.Handle, s.nextHandle)
		case i > 0 && c.Handle <= d.chunks[i-1].Handle:
			d.corrupt("chunk handle %d does not follow %d", c.Handle, d.chunks[i-1].Handle)
		case c.Version == 0:
			d.corrupt("chunk %d has version 0", c.Handle)
		default:
			d.chunks = append(d.chunks, c)
			d.owners = append(d.owners, chunkOwner{c.Handle, f})
		}
	}
	if d.err == nil && len(d.chunks) > 0 {
		f.chunks = slices.Clone(d.chunks)
	}
	return f
}

func (d *decoder) dedupTable(s *State) {
	t := &s.dedup
	n := d.count("dedup record count", uint64(t.limit))
	var last uint64
	for i := uint64(0); i < n && d.err == nil; i++ {
		idLen := d.count("client id length", MaxClientIDLen)
		id := string(d.bytes(int(idLen)))
		c := &client{id: id, seq: d.uvarint(), index: d.uvarint(), code: d.byte()}
		msgLen := d.count("message length", maxMsgLen)
		c.msg = string(d.bytes(int(msgLen)))
		c.handle, c.version = d.uvarint(), d.uvarint()
		switch {
		case d.err != nil:
		case id == "":
			d.corrupt("empty client id")
		case t.clients[id] != nil:
			d.corrupt("client %q appears twice", id)
		case c.index <= last || c.index > s.applied:
			d.corrupt("client %q index %d out of order (after %d, applied %d)", id, c.index, last, s.applied)
		case int(c.code) > len(sentinels):
			d.corrupt("client %q has unknown error code %d", id, c.code)
		case (c.code == 0) != (c.msg == ""):
			d.corrupt("client %q: error code %d with message %q", id, c.code, c.msg)
		default:
			last = c.index
			t.clients[id] = c
			t.pushBack(c)
		}
	}
}

func (d *decoder) sessionTable(s *State) {
	s.clock = d.varint()
	t := &s.sessions
	n := d.count("session count", uint64(t.limits.sessions))
	last := int64(math.MinInt64)
	for i := uint64(0); i < n && d.err == nil; i++ {
		ss := &session{id: d.uvarint(), active: d.varint(), lanes: make(map[string]*laneRecord)}
		lanes := d.count("lane count", uint64(t.limits.perSession))
		switch {
		case d.err != nil:
			return
		case ss.id == 0 || ss.id > s.applied:
			d.corrupt("session id %d outside [1, %d]", ss.id, s.applied)
		case t.byID[ss.id] != nil:
			d.corrupt("session %d appears twice", ss.id)
		case ss.active < last || ss.active > s.clock:
			d.corrupt("session %d active at %d out of order (after %d, clock %d)", ss.id, ss.active, last, s.clock)
		case t.lanes+int(lanes) > t.limits.lanes:
			d.corrupt("more than %d lanes", t.limits.lanes)
		}
		if d.err != nil {
			return
		}
		last = ss.active
		prev := ""
		for j := uint64(0); j < lanes && d.err == nil; j++ {
			nameLen := d.count("lane id length", MaxClientIDLen)
			name := string(d.bytes(int(nameLen)))
			l := &laneRecord{seq: d.uvarint(), code: d.byte()}
			msgLen := d.count("message length", maxMsgLen)
			l.msg = string(d.bytes(int(msgLen)))
			l.handle, l.version = d.uvarint(), d.uvarint()
			switch {
			case d.err != nil:
			case j > 0 && name <= prev:
				d.corrupt("session %d lane %q does not sort after %q", ss.id, name, prev)
			case int(l.code) > len(sentinels):
				d.corrupt("session %d lane %q has unknown error code %d", ss.id, name, l.code)
			case (l.code == 0) != (l.msg == ""):
				d.corrupt("session %d lane %q: error code %d with message %q", ss.id, name, l.code, l.msg)
			default:
				prev = name
				ss.lanes[name] = l
			}
		}
		t.byID[ss.id] = ss
		t.pushBack(ss)
		t.lanes += len(ss.lanes)
	}
}
