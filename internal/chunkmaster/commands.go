package chunkmaster

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/chunkpb"
)

// commandTimeout bounds one command to a chunkserver (copies excepted).
const commandTimeout = 5 * time.Second

// client returns a Chunkserver client for addr, or an error when this term
// must not command anyone any more. Every command carries t.token; a
// chunkserver that has seen a newer token refuses it.
func (t *term) client(addr string) (chunkpb.ChunkserverClient, error) {
	if t.ctx.Err() != nil || !t.m.n.Serving() {
		return nil, status.Errorf(codes.Unavailable, "master %s no longer serves under token %d", t.m.n.ID(), t.token)
	}
	cc, err := t.m.conn(addr)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return chunkpb.NewChunkserverClient(cc), nil
}

// cmdErr names the chunkserver in a command's error, keeping its code.
func cmdErr(id, what string, err error) error {
	st := status.Convert(err)
	return status.Errorf(st.Code(), "%s on chunkserver %s: %s", what, id, st.Message())
}

func (t *term) createChunk(ctx context.Context, s *server, h, version uint64) error {
	c, err := t.client(s.addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.CreateChunk(ctx, &chunkpb.CreateChunkRequest{Token: int64(t.token), Handle: h, Version: version, MaxSize: t.m.cfg.ChunkSize})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("create chunk %d", h), err)
	}
	return nil
}

func (t *term) setVersion(ctx context.Context, s *server, h, from, to uint64) error {
	c, err := t.client(s.addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.SetVersion(ctx, &chunkpb.SetVersionRequest{Token: int64(t.token), Handle: h, From: from, To: to})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("set version of chunk %d to %d", h, to), err)
	}
	return nil
}

func (t *term) grantLease(ctx context.Context, s *server, h, version uint64, secondaries []string, d time.Duration) error {
	c, err := t.client(s.addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.GrantLease(ctx, &chunkpb.GrantLeaseRequest{Token: int64(t.token), Handle: h, Version: version,
		DurationMs: max(1, d.Milliseconds()), Secondaries: secondaries})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("lease on chunk %d", h), err)
	}
	return nil
}

func (t *term) revokeLease(ctx context.Context, s *server, h uint64) error {
	c, err := t.client(s.addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.RevokeLease(ctx, &chunkpb.RevokeLeaseRequest{Token: int64(t.token), Handle: h})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("revoke lease on chunk %d", h), err)
	}
	return nil
}

func (t *term) deleteChunks(ctx context.Context, addr, id string, hs []uint64) error {
	c, err := t.client(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	_, err = c.DeleteChunks(ctx, &chunkpb.DeleteChunksRequest{Token: int64(t.token), Handles: hs})
	if err != nil {
		return cmdErr(id, fmt.Sprintf("delete %d chunks", len(hs)), err)
	}
	return nil
}

func (t *term) copyChunk(ctx context.Context, target *server, source string, h, version uint64) error {
	c, err := t.client(target.addr)
	if err != nil {
		return err
	}
	// A chunk of 64 MiB copies in well under a second on a LAN; allow slow disks.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err = c.CopyChunk(ctx, &chunkpb.CopyChunkRequest{Token: int64(t.token), Handle: h, Version: version, Source: source, MaxSize: t.m.cfg.ChunkSize})
	if err != nil {
		return cmdErr(target.id, fmt.Sprintf("copy chunk %d from %s", h, source), err)
	}
	return nil
}
