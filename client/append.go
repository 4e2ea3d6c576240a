package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
)

// Record append (GFS §3.3). Many clients append to one file at once; the
// primary replica of the file's last chunk chooses where each record goes,
// so appenders never coordinate. Each record is framed:
//
//	magic "GFSR" (4 bytes) | length (4, big-endian) | record id (16) |
//	CRC-32C of the data (4, big-endian) | data
//
// A record is written at least once, atomically (whole, at one offset on
// every replica), but a retried append may write it twice, and a chunk
// ends with zero padding when the next record did not fit. ScanRecords
// reads the records back, skipping padding and damaged regions and
// dropping duplicates by id.

// RecordHeader is the size of a record's frame header.
const RecordHeader = 28

var recordMagic = [4]byte{'G', 'F', 'S', 'R'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// RecordID identifies one appended record across its retries.
type RecordID [16]byte

func (id RecordID) String() string { return hex.EncodeToString(id[:]) }

// Record is one record read back by ScanRecords.
type Record struct {
	ID     RecordID
	Offset int64 // of its frame in the file
	Data   []byte
}

// Appended says where Append put a record.
type Appended struct {
	ID     RecordID `json:"-"`
	Offset int64    `json:"offset"` // of the record's frame in the file
	Length int64    `json:"length"` // of the frame, header included
}

// Append appends data as one record to the file at path, which must
// exist (create it first, e.g. with Create). It retries across failovers,
// lease changes and full chunks until ctx ends; a record larger than a
// quarter of the chunk size (less its 28-byte header) fails with
// ErrInvalid. The file's size then covers the record.
func (c *Client) Append(ctx context.Context, path string, data []byte) (Appended, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.DefaultTimeout)
		defer cancel()
	}
	id, frame := frameRecord(data)

	backoff := 10 * time.Millisecond
	var last error
	for {
		if ctx.Err() != nil {
			return Appended{}, fmt.Errorf("append to %s: %w (last error: %v)", path, ctx.Err(), last)
		}
		off, err := c.appendOnce(ctx, path, frame)
		if err == nil {
			a := Appended{ID: id, Offset: off, Length: int64(len(frame))}
			if err := c.growSize(ctx, path, off+int64(len(frame))); err != nil {
				return a, fmt.Errorf("append to %s: the record is at %d but the file's size was not raised: %w", path, off, err)
			}
			return a, nil
		}
		switch status.Code(err) {
		case codes.InvalidArgument, codes.ResourceExhausted, codes.DataLoss:
			return Appended{}, fmt.Errorf("append to %s: %w", path, fromStatus(err))
		}
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
			return Appended{}, fmt.Errorf("append to %s: %w", path, err)
		}
		last = fromStatus(err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// frameRecord frames data as a record with a fresh id.
func frameRecord(data []byte) (RecordID, []byte) {
	var id RecordID
	rand.Read(id[:])
	frame := make([]byte, RecordHeader+len(data))
	copy(frame, recordMagic[:])
	binary.BigEndian.PutUint32(frame[4:], uint32(len(data)))
	copy(frame[8:], id[:])
	binary.BigEndian.PutUint32(frame[24:], crc32.Checksum(data, castagnoli))
	copy(frame[RecordHeader:], data)
	return id, frame
}

// appendOnce makes one attempt: it finds the file's last chunk (adding
// one if there is none or it is full) and appends frame there through the
// chunk's lease holder. It returns the frame's offset in the file.
func (c *Client) appendOnce(ctx context.Context, path string, frame []byte) (int64, error) {
	for {
		loc, err := c.locate(ctx, path)
		if err != nil {
			return 0, err
		}
		if int64(len(frame)) > loc.ChunkSize/4 {
			return 0, &Error{Msg: fmt.Sprintf("append to %s: a record of %d bytes; the largest is %d (a quarter of the chunk size, less the %d-byte header)",
				path, len(frame)-RecordHeader, loc.ChunkSize/4-RecordHeader, RecordHeader), kind: ErrInvalid}
		}
		n := len(loc.Chunks)
		if n == 0 {
			if err := c.addChunk(ctx, path, 1); err != nil {
				return 0, err
			}
			continue
		}
		h := loc.Chunks[n-1].Handle
		var l *chunkpb.ChunkLease
		err = c.callChunk(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient) error {
			var err error
			l, err = m.GetLease(ctx, &chunkpb.LeaseRequest{Path: path, Handle: h})
			return err
		})
		if err != nil {
			return 0, err
		}
		r, err := c.appendTo(ctx, l, frame)
		if err != nil {
			return 0, err
		}
		if r.ChunkFull {
			if err := c.addChunk(ctx, path, uint64(n+1)); err != nil {
				return 0, err
			}
			continue
		}
		return int64(n-1)*loc.ChunkSize + r.Offset, nil
	}
}

// addChunk adds chunk number want (1-based) to path unless another
// appender already did.
func (c *Client) addChunk(ctx context.Context, path string, want uint64) error {
	err := c.idempotent(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient, session uint64, id string, seq uint64) error {
		_, err := m.AllocateChunk(ctx, &chunkpb.AllocateRequest{Path: path, Session: session, ClientId: id, Seq: seq, IfChunks: want})
		return err
	})
	if errors.Is(err, ErrPrecondition) {
		return nil // another appender added it
	}
	return err
}

// appendTo sends one record append to the lease holder of l.
func (c *Client) appendTo(ctx context.Context, l *chunkpb.ChunkLease, frame []byte) (*chunkpb.WriteResponse, error) {
	if l.Primary == nil {
		return nil, status.Errorf(codes.Unavailable, "chunk %d: the lease holder is not registered", l.Handle)
	}
	cc, err := c.grpcConn(l.Primary.Address)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := chunkpb.NewChunkserverClient(cc).Write(actx)
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(frame); i += frameSize {
		m := &chunkpb.WriteRequest{Data: frame[i:min(i+frameSize, len(frame))]}
		if i == 0 {
			m.Handle, m.Version, m.Length, m.Append = l.Handle, l.Version, int64(len(frame)), true
		}
		if err := stream.Send(m); err != nil {
			break // CloseAndRecv has the real error
		}
	}
	r, err := stream.CloseAndRecv()
	if err != nil {
		return nil, chunkserverErr(l.Primary, err)
	}
	return r, nil
}

func (c *Client) growSize(ctx context.Context, path string, size int64) error {
	return c.idempotent(ctx, func(ctx context.Context, m chunkpb.ChunkMasterClient, session uint64, id string, seq uint64) error {
		_, err := m.SetFileSize(ctx, &chunkpb.SetFileSizeRequest{Path: path, Size: size, Session: session, ClientId: id, Seq: seq, Grow: true})
		return err
	})
}

// ScanRecords calls fn with every record of the file at path, in file
// order, once per record id (a duplicate left by a retried append is
// skipped; the set of ids seen grows with the number of records). Zero
// padding and regions that hold no valid record (an append that failed on
// some replicas) are skipped. An error from fn stops the scan and is
// returned.
func (c *Client) ScanRecords(ctx context.Context, path string, fn func(Record) error) error {
	r, err := c.Open(ctx, path)
	if err != nil {
		return err
	}
	defer r.Close()
	r.mu.Lock()
	size, chunkSize := r.loc.Size, r.loc.ChunkSize
	r.mu.Unlock()
	seen := map[RecordID]bool{}
	var hdr [RecordHeader]byte
	for pos := int64(0); pos+RecordHeader <= size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := r.ReadAt(hdr[:], pos); err != nil && err != io.EOF {
			return fmt.Errorf("scan records of %s at %d: %w", path, pos, err)
		}
		if [4]byte(hdr[:4]) != recordMagic {
			if hdr == [RecordHeader]byte{} {
				pos = (pos/chunkSize + 1) * chunkSize // padding: on to the next chunk
			} else {
				pos++ // damaged: look for the next record
			}
			continue
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		if n > chunkSize/4 || pos+RecordHeader+n > size {
			pos++
			continue
		}
		data := make([]byte, n)
		if _, err := r.ReadAt(data, pos+RecordHeader); err != nil && err != io.EOF {
			return fmt.Errorf("scan records of %s at %d: %w", path, pos, err)
		}
		if crc32.Checksum(data, castagnoli) != binary.BigEndian.Uint32(hdr[24:]) {
			pos++
			continue
		}
		id := RecordID(hdr[8:24])
		if !seen[id] {
			seen[id] = true
			if err := fn(Record{ID: id, Offset: pos, Data: data}); err != nil {
				return err
			}
		}
		pos += RecordHeader + n
	}
	return nil
}
