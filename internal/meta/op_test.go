package meta

import (
	"errors"
	"math"
	"testing"
)

// sampleOps are real ops of every type, used as round-trip cases and as the
// fuzz seed corpus.
var sampleOps = []Op{
	{Type: OpNoop},
	{Type: OpMkdir, Path: "/a"},
	{Type: OpCreate, Path: "/a/f", ClientID: "client-1", Seq: 7},
	{Type: OpDelete, Path: "/a/f"},
	{Type: OpRename, Path: "/a", Path2: "/b"},
	{Type: OpAddChunk, Path: "/b/f", ClientID: "c", Seq: math.MaxUint64},
	{Type: OpSetChunkVersion, Handle: 42, Version: 3},
	{Type: OpSetSize, Path: "/b/f", Size: 64 << 20},
	{Type: OpSetSize, Path: "/b/f", Size: -1},
	{Type: OpCreate, Path: "/m", Mtime: 1_765_000_000_123_456_789},
	{Type: OpMkdir, Path: "/m2", Mtime: -5},
	{Type: OpCreate, Path: "/s", ClientID: "l1", Seq: 3, Session: 42},
	{Type: OpRegisterSession, Mtime: 7},
	{Type: OpCreate, Path: "/sm", ClientID: "l1", Seq: 4, Session: 42, Mtime: 1_765_000_000_000_000_001},
	{Type: OpSetChunkVersion, Handle: math.MaxUint64, Version: math.MaxUint64},
	{Type: OpCreate, Path: "/ünïcødé/\x00", Path2: "x", Handle: 1, Version: 2, Size: math.MinInt64, ClientID: "id", Seq: 1},
}

func TestOpRoundTrip(t *testing.T) {
	for _, op := range sampleOps {
		b := op.Marshal()
		got, err := UnmarshalOp(b)
		if err != nil {
			t.Errorf("UnmarshalOp(Marshal(%+v)) error %v", op, err)
			continue
		}
		if got != op {
			t.Errorf("UnmarshalOp(Marshal(%+v)) = %+v", op, got)
		}
	}
}

func TestAppendToBatches(t *testing.T) {
	var batch []byte
	var ends []int
	for _, op := range sampleOps {
		batch = op.AppendTo(batch)
		ends = append(ends, len(batch))
	}
	start := 0
	for i, end := range ends {
		got, err := UnmarshalOp(batch[start:end])
		if err != nil || got != sampleOps[i] {
			t.Errorf("op %d from batch = %+v, %v; want %+v", i, got, err, sampleOps[i])
		}
		start = end
	}
}

func TestMarshalIsCompact(t *testing.T) {
	op := Op{Type: OpCreate, Path: "/d001/f000001"}
	if got, want := len(op.Marshal()), 3+1+len(op.Path); got != want {
		t.Errorf("len(Marshal(%+v)) = %d; want %d", op, got, want)
	}
}

func TestUnmarshalOpErrors(t *testing.T) {
	valid := Op{Type: OpRename, Path: "/a", Path2: "/b", Seq: 300}.Marshal()
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"short header", []byte{opFormatV1, byte(OpNoop)}},
		{"unknown version", []byte{3, byte(OpNoop), 0}},
		{"type zero", []byte{opFormatV1, 0, 0}},
		{"unknown type", []byte{opFormatV1, byte(opLast) + 1, 0}},
		{"unknown flag", []byte{opFormatV2, byte(OpNoop), 0x80, 0x04}},
		{"truncated string", valid[:5]},
		{"truncated varint", valid[:len(valid)-1]},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"string longer than input", []byte{opFormatV1, byte(OpMkdir), hasPath, 10, '/'}},
		{"varint overflow", []byte{opFormatV1, byte(OpSetChunkVersion), hasHandle,
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := UnmarshalOp(tt.in)
			if !errors.Is(err, ErrBadOp) {
				t.Errorf("UnmarshalOp(%x) = %+v, %v; want an error wrapping ErrBadOp", tt.in, op, err)
			}
		})
	}
}

func TestOpTypeString(t *testing.T) {
	tests := []struct {
		t    OpType
		want string
	}{
		{OpNoop, "noop"},
		{OpAddChunk, "add-chunk"},
		{OpSetSize, "set-size"},
		{0, "op(0)"},
		{200, "op(200)"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("OpType(%d).String() = %q; want %q", uint8(tt.t), got, tt.want)
		}
	}
}

// FuzzUnmarshal checks that no input makes UnmarshalOp panic, that every
// error wraps ErrBadOp, that what decodes re-encodes to the same op, and that
// Check and Apply agree on it.
func FuzzUnmarshal(f *testing.F) {
	for _, op := range sampleOps {
		f.Add(op.Marshal())
	}
	f.Add([]byte{})
	f.Add([]byte{opFormatV1, byte(OpMkdir), hasPath, 2, '/', 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := UnmarshalOp(b)
		if err != nil {
			if !errors.Is(err, ErrBadOp) {
				t.Fatalf("UnmarshalOp(%x) error %v does not wrap ErrBadOp", b, err)
			}
			return
		}
		again, err := UnmarshalOp(op.Marshal())
		if err != nil || again != op {
			t.Fatalf("UnmarshalOp(Marshal(%+v)) = %+v, %v", op, again, err)
		}
		s := New()
		mustApply(t, s, Op{Type: OpMkdir, Path: "/a"}, Op{Type: OpCreate, Path: "/a/f"}, Op{Type: OpAddChunk, Path: "/a/f"})
		checkErr := s.Check(op)
		res := s.ApplyEncoded(s.AppliedIndex()+1, b)
		if errCode(checkErr) != errCode(res.Err) {
			t.Fatalf("op %+v: Check = %v, Apply = %v", op, checkErr, res.Err)
		}
	})
}
