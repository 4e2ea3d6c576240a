package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// appendHandle maps each write(2) to one record append.
type appendHandle struct {
	fsys *FS
	path string
}

func (h *appendHandle) Write(ctx context.Context, data []byte, _ int64) (uint32, syscall.Errno) {
	return 0, syscall.EOPNOTSUPP
}

func (h *appendHandle) Read(context.Context, []byte, int64) (fuse.ReadResult, syscall.Errno) {
	return nil, syscall.EBADF
}
