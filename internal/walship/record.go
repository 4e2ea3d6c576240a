package walship

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/gfsha/master/internal/fencing"
)

// Record is one log entry.
type Record struct {
	Index uint64
	Token fencing.Token
	Data  []byte
	// Time is its batch's Committed stamp: the log time a state machine may
	// use (the same on every replica), never a replica's own clock.
	Time time.Time
}

// Batch is what one transaction writes: consecutive records.
type Batch struct {
	First     uint64
	Token     fencing.Token // the writer's token
	Committed time.Time     // the writer's wall clock when it sent the batch: lag display and the records' log time
	Records   []Record
}

// Last is the index of the batch's last record.
func (b *Batch) Last() uint64 { return b.First + uint64(len(b.Records)) - 1 }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	batchMagic     = "GWB1"
	batchHeaderLen = 4 + 8 + 8 + 4 + 8 // magic, token, first, count, unix nanos
)

// encodeBatch appends the batch's encoding to dst:
//
//	magic | token | first | count | unix nanos | count × (token uvarint, len uvarint, data) | crc32c
func encodeBatch(dst []byte, b *Batch) []byte {
	start := len(dst)
	dst = append(dst, batchMagic...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Token))
	dst = binary.BigEndian.AppendUint64(dst, b.First)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b.Records)))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Committed.UnixNano()))
	for _, r := range b.Records {
		dst = binary.AppendUvarint(dst, uint64(r.Token))
		dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
		dst = append(dst, r.Data...)
	}
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeBatch parses and verifies a batch. Record data aliases buf.
func decodeBatch(buf []byte) (*Batch, error) {
	if len(buf) < batchHeaderLen+4 {
		return nil, fmt.Errorf("batch of %d bytes is too short: %w", len(buf), ErrCorrupt)
	}
	body, sum := buf[:len(buf)-4], binary.BigEndian.Uint32(buf[len(buf)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, stored %08x: %w", got, sum, ErrCorrupt)
	}
	if string(body[:4]) != batchMagic {
		return nil, fmt.Errorf("bad magic %q: %w", body[:4], ErrCorrupt)
	}
	b := &Batch{
		Token:     fencing.Token(binary.BigEndian.Uint64(body[4:])),
		First:     binary.BigEndian.Uint64(body[12:]),
		Committed: time.Unix(0, int64(binary.BigEndian.Uint64(body[24:]))),
	}
	n := binary.BigEndian.Uint32(body[20:])
	if n == 0 || b.First == 0 {
		return nil, fmt.Errorf("batch with first=%d count=%d: %w", b.First, n, ErrCorrupt)
	}
	p := body[batchHeaderLen:]
	b.Records = make([]Record, 0, n)
	for i := uint32(0); i < n; i++ {
		tok, k := binary.Uvarint(p)
		if k <= 0 {
			return nil, fmt.Errorf("record %d: bad token: %w", i, ErrCorrupt)
		}
		p = p[k:]
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, fmt.Errorf("record %d: bad length: %w", i, ErrCorrupt)
		}
		p = p[k:]
		b.Records = append(b.Records, Record{Index: b.First + uint64(i), Token: fencing.Token(tok), Data: p[:l:l], Time: b.Committed})
		p = p[l:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d trailing bytes: %w", len(p), ErrCorrupt)
	}
	return b, nil
}
