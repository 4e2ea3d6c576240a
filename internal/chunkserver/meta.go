package chunkserver

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// BlockSize is the unit of checksumming: every 64 KiB block of a replica has
// its own CRC-32C, verified on every read.
const BlockSize = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// replicaMeta is a replica's metadata file (HANDLE.meta beside HANDLE.dat):
//
//	"GFSCHNK1" | handle u64 | version u64 | size i64 | max size i64 |
//	blocks u32 | CRC-32C of each block, u32 each | CRC-32C of all the above
//
// little endian. It is replaced atomically (temporary file, fsync, rename,
// directory fsync) after the data it describes is fsynced, so a crash leaves
// either the old or the new description; data past the described size is cut
// off when the store opens.
type replicaMeta struct {
	handle  uint64
	version uint64
	size    int64
	maxSize int64
	crcs    []uint32 // one per block of size bytes
}

const metaMagic = "GFSCHNK1"

func (m replicaMeta) marshal() []byte {
	b := make([]byte, 0, len(metaMagic)+36+4*len(m.crcs)+4)
	b = append(b, metaMagic...)
	b = binary.LittleEndian.AppendUint64(b, m.handle)
	b = binary.LittleEndian.AppendUint64(b, m.version)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.size))
	b = binary.LittleEndian.AppendUint64(b, uint64(m.maxSize))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.crcs)))
	for _, c := range m.crcs {
		b = binary.LittleEndian.AppendUint32(b, c)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func unmarshalMeta(b []byte) (replicaMeta, error) {
	var m replicaMeta
	const head = len(metaMagic) + 36
	if len(b) < head+4 || string(b[:len(metaMagic)]) != metaMagic {
		return m, fmt.Errorf("not a replica metadata file (%d bytes)", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return m, fmt.Errorf("metadata checksum %08x, want %08x", got, sum)
	}
	p := b[len(metaMagic):]
	m.handle = binary.LittleEndian.Uint64(p)
	m.version = binary.LittleEndian.Uint64(p[8:])
	m.size = int64(binary.LittleEndian.Uint64(p[16:]))
	m.maxSize = int64(binary.LittleEndian.Uint64(p[24:]))
	n := binary.LittleEndian.Uint32(p[32:])
	if m.size < 0 || m.maxSize < m.size || uint64(n) != uint64(blocks(m.size)) || len(body) != head+4*int(n) {
		return m, fmt.Errorf("inconsistent metadata: size %d, max size %d, %d checksums in %d bytes", m.size, m.maxSize, n, len(b))
	}
	m.crcs = make([]uint32, n)
	for i := range m.crcs {
		m.crcs[i] = binary.LittleEndian.Uint32(p[36+4*i:])
	}
	return m, nil
}

// blocks is the number of blocks holding size bytes.
func blocks(size int64) int { return int((size + BlockSize - 1) / BlockSize) }
