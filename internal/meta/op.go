package meta

import (
	"encoding/binary"
	"fmt"
)

// OpType is the kind of a mutation.
type OpType uint8

// The op types. Their numeric values are part of the log encoding: append
// only, never renumber.
const (
	OpNoop            OpType = iota + 1 // leadership marker written by a new primary; changes nothing but AppliedIndex
	OpMkdir                             // Path: a new empty directory
	OpCreate                            // Path: a new empty file; its parent must exist and be a directory
	OpDelete                            // Path: a file, or an empty directory; "/" cannot be deleted
	OpRename                            // Path -> Path2: Path2 must not exist, its parent must; no directory into its own subtree
	OpAddChunk                          // Path: append a new chunk (next handle, version 1) to file Path
	OpSetChunkVersion                   // Handle, Version: raise a chunk's version (must be above the current one)
	OpSetSize                           // Path, Size: set a file's size in bytes (>= 0)
	OpRegisterSession                   // a new client session; its id is the entry's index
	OpGrowSize                          // Path, Size: raise a file's size to at least Size (record append; never lowers it)
)

// opLast is the highest defined OpType.
const opLast = OpGrowSize

var opNames = [...]string{
	OpNoop:            "noop",
	OpMkdir:           "mkdir",
	OpCreate:          "create",
	OpDelete:          "delete",
	OpRename:          "rename",
	OpAddChunk:        "add-chunk",
	OpSetChunkVersion: "set-chunk-version",
	OpSetSize:         "set-size",
	OpRegisterSession: "register-session",
	OpGrowSize:        "grow-size",
}

// String returns the op's name as used in error messages ("mkdir", "add-chunk").
func (t OpType) String() string {
	if t >= OpNoop && t <= opLast {
		return opNames[t]
	}
	return fmt.Sprintf("op(%d)", uint8(t))
}

// MaxClientIDLen bounds Op.ClientID, which the dedup table keeps in memory.
const MaxClientIDLen = 256

// Op is one mutation, as written to the replicated log. Fields an op type
// does not use are ignored by Check and Apply (but still encoded).
type Op struct {
	Type    OpType
	Path    string
	Path2   string
	Handle  uint64
	Version uint64
	Size    int64
	// ClientID, when not empty, makes the op idempotent together with Seq:
	// the state remembers, per client, the highest Seq applied and its Result,
	// and answers a retry of that Seq from memory instead of running it again.
	ClientID string
	Seq      uint64
	// Session, when not 0, names a session registered by OpRegisterSession;
	// ClientID is then a lane of that session (see ApplyAt).
	Session uint64
	// Mtime is the wall-clock time (Unix nanoseconds) the primary stamped on
	// the op when it logged it; the op sets it as the modification time of
	// what it changes (a new entry, a file's chunks or size, the directories
	// whose entries change). Zero (records written before mtimes existed)
	// changes no modification time. It comes from the log, never from the
	// replica's clock, so every replica applies the same time.
	Mtime int64
}

// The first byte of every encoded op: format 1 has a flags byte, format 2
// (ops with a field past the eighth) a uvarint of flags.
const (
	opFormatV1 = 1
	opFormatV2 = 2
)

// Presence bits of the encoding's flags byte; a field is encoded only when it
// is not zero.
const (
	hasPath = 1 << iota
	hasPath2
	hasHandle
	hasVersion
	hasSize
	hasClientID
	hasSeq
	hasSession
	hasMtime
	hasAll = hasMtime<<1 - 1
)

// Marshal returns the op's binary encoding (see AppendTo).
func (op Op) Marshal() []byte {
	n := 4 + len(op.Path) + len(op.Path2) + len(op.ClientID) + 12*binary.MaxVarintLen64
	return op.AppendTo(make([]byte, 0, n))
}

// AppendTo appends the op's binary encoding to b and returns the extended
// slice. The encoding is: format version (1), type, a flags byte saying which
// fields follow, then those fields in declaration order, strings as a uvarint
// length and bytes, Handle, Version, Seq and Session as uvarints, Size and
// Mtime as varints. Format 1 has a flags byte; format 2 (written only when a
// field past the eighth, Mtime, is present) has the flags as a uvarint, so
// records written before Mtime existed decode as before, with Mtime 0.
func (op Op) AppendTo(b []byte) []byte {
	var flags uint64
	if op.Path != "" {
		flags |= hasPath
	}
	if op.Path2 != "" {
		flags |= hasPath2
	}
	if op.Handle != 0 {
		flags |= hasHandle
	}
	if op.Version != 0 {
		flags |= hasVersion
	}
	if op.Size != 0 {
		flags |= hasSize
	}
	if op.ClientID != "" {
		flags |= hasClientID
	}
	if op.Seq != 0 {
		flags |= hasSeq
	}
	if op.Session != 0 {
		flags |= hasSession
	}
	if op.Mtime != 0 {
		flags |= hasMtime
	}
	if flags <= 0xff {
		b = append(b, opFormatV1, byte(op.Type), byte(flags))
	} else {
		b = append(b, opFormatV2, byte(op.Type))
		b = binary.AppendUvarint(b, flags)
	}
	if flags&hasPath != 0 {
		b = binary.AppendUvarint(b, uint64(len(op.Path)))
		b = append(b, op.Path...)
	}
	if flags&hasPath2 != 0 {
		b = binary.AppendUvarint(b, uint64(len(op.Path2)))
		b = append(b, op.Path2...)
	}
	if flags&hasHandle != 0 {
		b = binary.AppendUvarint(b, op.Handle)
	}
	if flags&hasVersion != 0 {
		b = binary.AppendUvarint(b, op.Version)
	}
	if flags&hasSize != 0 {
		b = binary.AppendVarint(b, op.Size)
	}
	if flags&hasClientID != 0 {
		b = binary.AppendUvarint(b, uint64(len(op.ClientID)))
		b = append(b, op.ClientID...)
	}
	if flags&hasSeq != 0 {
		b = binary.AppendUvarint(b, op.Seq)
	}
	if flags&hasSession != 0 {
		b = binary.AppendUvarint(b, op.Session)
	}
	if flags&hasMtime != 0 {
		b = binary.AppendVarint(b, op.Mtime)
	}
	return b
}

// UnmarshalOp decodes an op written by Marshal or AppendTo. Any input that is
// not exactly one well-formed op (unknown format version or type, unknown
// flags, a field cut short, trailing bytes) gives an error wrapping ErrBadOp.
// The returned strings do not alias b.
func UnmarshalOp(b []byte) (Op, error) {
	d := opDecoder{b: b}
	op := d.decode()
	if d.err != "" {
		return Op{}, fmt.Errorf("decode op (%d bytes): %s: %w", len(b), d.err, ErrBadOp)
	}
	return op, nil
}

// opDecoder reads one encoded op; err holds the first problem found.
type opDecoder struct {
	b   []byte
	err string
}

func (d *opDecoder) decode() Op {
	if len(d.b) < 3 {
		d.err = "shorter than the 3-byte header"
		return Op{}
	}
	if d.b[0] != opFormatV1 && d.b[0] != opFormatV2 {
		d.err = fmt.Sprintf("unknown format version %d (want %d or %d)", d.b[0], opFormatV1, opFormatV2)
		return Op{}
	}
	op := Op{Type: OpType(d.b[1])}
	if op.Type < OpNoop || op.Type > opLast {
		d.err = fmt.Sprintf("unknown op type %d", d.b[1])
		return Op{}
	}
	var flags uint64
	if d.b[0] == opFormatV1 {
		flags = uint64(d.b[2])
		d.b = d.b[3:]
	} else {
		d.b = d.b[2:]
		flags = d.uvarint("flags")
		if d.err != "" {
			return Op{}
		}
	}
	if flags&^hasAll != 0 {
		d.err = fmt.Sprintf("unknown flags %#x", flags&^hasAll)
		return Op{}
	}
	if flags&hasPath != 0 {
		op.Path = d.string("path")
	}
	if flags&hasPath2 != 0 {
		op.Path2 = d.string("path2")
	}
	if flags&hasHandle != 0 {
		op.Handle = d.uvarint("handle")
	}
	if flags&hasVersion != 0 {
		op.Version = d.uvarint("version")
	}
	if flags&hasSize != 0 {
		op.Size = d.varint("size")
	}
	if flags&hasClientID != 0 {
		op.ClientID = d.string("client id")
	}
	if flags&hasSeq != 0 {
		op.Seq = d.uvarint("seq")
	}
	if flags&hasSession != 0 {
		op.Session = d.uvarint("session")
	}
	if flags&hasMtime != 0 {
		op.Mtime = d.varint("mtime")
	}
	if d.err == "" && len(d.b) != 0 {
		d.err = fmt.Sprintf("%d trailing bytes", len(d.b))
	}
	return op
}

func (d *opDecoder) uvarint(field string) uint64 {
	if d.err != "" {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = "bad or truncated " + field
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *opDecoder) varint(field string) int64 {
	if d.err != "" {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = "bad or truncated " + field
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *opDecoder) string(field string) string {
	n := d.uvarint(field + " length")
	if d.err != "" {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Sprintf("%s length %d exceeds the %d bytes left", field, n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
