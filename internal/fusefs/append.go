package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// appendHandle maps each write(2) on a file opened with O_APPEND to one
// record append (client.Append): the chunk's primary replica chooses the
// offset, whatever the offset the kernel passes, so many processes and
// machines can append to one file at once. The file then holds framed
// records (`master ctl cat --records` or client.ScanRecords read them
// back). A write larger than a quarter of the chunk size fails with
// EINVAL.
type appendHandle struct {
	fsys *FS
	path string
}

var (
	_ fs.FileWriter = (*appendHandle)(nil)
	_ fs.FileReader = (*appendHandle)(nil)
)

func (h *appendHandle) Write(ctx context.Context, data []byte, _ int64) (uint32, syscall.Errno) {
	// The record is copied into its frame before Append returns: data may
	// be reused by the FUSE server afterwards.
	if _, err := h.fsys.c.Append(h.fsys.ctx, h.path, data); err != nil {
		return 0, errno(err)
	}
	return uint32(len(data)), 0
}

func (h *appendHandle) Read(context.Context, []byte, int64) (fuse.ReadResult, syscall.Errno) {
	return nil, syscall.EBADF
}
