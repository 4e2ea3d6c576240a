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

// command prepares one command to the chunkserver at addr: a client, and a
// context whose deadline is the sooner of timeout and the end of this
// master's lease as primary (Node.ServingUntil), so that no command of this
// term can take effect after its lease: gRPC carries the deadline to the
// chunkserver, which refuses a command whose deadline passed before it acted
// and bounds a chunk lease by it. It fails when this term must not command
// anyone any more. Every command carries t.token; a chunkserver that has
// seen a newer token refuses it.
func (t *term) command(ctx context.Context, addr string, timeout time.Duration) (chunkpb.ChunkserverClient, context.Context, context.CancelFunc, error) {
	until := t.m.n.ServingUntil()
	if t.ctx.Err() != nil || until.IsZero() {
		return nil, nil, nil, t.noLonger()
	}
	cc, err := t.m.conn(addr)
	if err != nil {
		return nil, nil, nil, status.Error(codes.Unavailable, err.Error())
	}
	if d := time.Now().Add(timeout); d.Before(until) {
		until = d
	}
	cctx, cancel := context.WithDeadline(ctx, until)
	return chunkpb.NewChunkserverClient(cc), cctx, cancel, nil
}

// done checks a command's outcome against the lease: a command that
// succeeded is reported as failed when this term stopped serving while it
// ran, so that nothing learnt from it reaches a client.
func (t *term) done(err error) error {
	if err != nil {
		return err
	}
	if t.ctx.Err() != nil || !t.m.n.Serving() {
		return t.noLonger()
	}
	return nil
}

func (t *term) noLonger() error {
	return status.Errorf(codes.Unavailable, "master %s no longer serves under token %d", t.m.n.ID(), t.token)
}

// cmdErr names the chunkserver in a command's error, keeping its code.
func cmdErr(id, what string, err error) error {
	st := status.Convert(err)
	return status.Errorf(st.Code(), "%s on chunkserver %s: %s", what, id, st.Message())
}

func (t *term) createChunk(ctx context.Context, s *server, h, version uint64) error {
	c, ctx, cancel, err := t.command(ctx, s.addr, commandTimeout)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.CreateChunk(ctx, &chunkpb.CreateChunkRequest{Token: int64(t.token), Handle: h, Version: version, MaxSize: t.m.cfg.ChunkSize})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("create chunk %d", h), err)
	}
	return t.done(nil)
}

func (t *term) setVersion(ctx context.Context, s *server, h, from, to uint64) error {
	c, ctx, cancel, err := t.command(ctx, s.addr, commandTimeout)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.SetVersion(ctx, &chunkpb.SetVersionRequest{Token: int64(t.token), Handle: h, From: from, To: to})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("set version of chunk %d to %d", h, to), err)
	}
	return t.done(nil)
}

// grantLease makes s the primary replica of chunk h for at most d, and at
// most until this master's own lease ends (a chunk lease never outlives the
// lease of the master that granted it); it returns the duration granted.
// The chunkserver counts it from its receipt, and refuses the grant once
// the command's deadline (the same bound) has passed.
func (t *term) grantLease(ctx context.Context, s *server, h, version uint64, secondaries []string, d time.Duration) (time.Duration, error) {
	d = min(d, time.Until(t.m.n.ServingUntil()))
	if d <= 0 {
		return 0, t.noLonger()
	}
	c, ctx, cancel, err := t.command(ctx, s.addr, d)
	if err != nil {
		return 0, err
	}
	defer cancel()
	_, err = c.GrantLease(ctx, &chunkpb.GrantLeaseRequest{Token: int64(t.token), Handle: h, Version: version,
		DurationMs: max(1, d.Milliseconds()), Secondaries: secondaries})
	if err != nil {
		return 0, cmdErr(s.id, fmt.Sprintf("lease on chunk %d", h), err)
	}
	return d, t.done(nil)
}

func (t *term) revokeLease(ctx context.Context, s *server, h uint64) error {
	c, ctx, cancel, err := t.command(ctx, s.addr, commandTimeout)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.RevokeLease(ctx, &chunkpb.RevokeLeaseRequest{Token: int64(t.token), Handle: h})
	if err != nil {
		return cmdErr(s.id, fmt.Sprintf("revoke lease on chunk %d", h), err)
	}
	return t.done(nil)
}

func (t *term) deleteChunks(ctx context.Context, addr, id string, hs []uint64) error {
	c, ctx, cancel, err := t.command(ctx, addr, commandTimeout)
	if err != nil {
		return err
	}
	defer cancel()
	_, err = c.DeleteChunks(ctx, &chunkpb.DeleteChunksRequest{Token: int64(t.token), Handles: hs})
	if err != nil {
		return cmdErr(id, fmt.Sprintf("delete %d chunks", len(hs)), err)
	}
	return t.done(nil)
}

func (t *term) copyChunk(ctx context.Context, target *server, source string, h, version uint64) error {
	// A chunk of 64 MiB copies in well under a second on a LAN; allow slow
	// disks. A copy alone is not bounded by the lease: it only adds a
	// replica at the version it copies, which a later primary checks against
	// the log like any other (a stale one is deleted), and it may take longer
	// than a lease's validity.
	c, _, cancel, err := t.command(ctx, target.addr, 0)
	if err != nil {
		return err
	}
	cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err = c.CopyChunk(ctx, &chunkpb.CopyChunkRequest{Token: int64(t.token), Handle: h, Version: version, Source: source, MaxSize: t.m.cfg.ChunkSize})
	if err != nil {
		return cmdErr(target.id, fmt.Sprintf("copy chunk %d from %s", h, source), err)
	}
	return t.done(nil)
}
