package rpcserver

import (
	"context"
	"errors"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/meta"
	"github.com/gfsha/master/internal/node"
)

// ReadOptionsFrom parses a read's consistency from its request metadata
// (masterpb.MDRead*). No metadata is a linearizable read.
func ReadOptionsFrom(ctx context.Context) (node.ReadOptions, error) {
	var o node.ReadOptions
	md, _ := metadata.FromIncomingContext(ctx)
	get := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	c, err := node.ParseConsistency(get(masterpb.MDReadConsistency))
	if err != nil {
		return o, status.Error(codes.InvalidArgument, err.Error())
	}
	o.Consistency = c
	if v := get(masterpb.MDReadIndex); v != "" {
		if o.MinIndex, err = strconv.ParseUint(v, 10, 64); err != nil {
			return o, status.Errorf(codes.InvalidArgument, "%s %q: want a log index in decimal", masterpb.MDReadIndex, v)
		}
	}
	if v := get(masterpb.MDReadMaxLagMs); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return o, status.Errorf(codes.InvalidArgument, "%s %q: want milliseconds, 0 or more", masterpb.MDReadMaxLagMs, v)
		}
		o.MaxLag = time.Duration(ms) * time.Millisecond
	}
	return o, nil
}

// Read runs fn on n's state with the consistency the request asks for, and
// sends who answered and how fresh the answer is in the response header
// (masterpb.MDServedBy and friends). A member that cannot answer now
// fails with UNAVAILABLE, so the client tries the next one.
func Read(ctx context.Context, n *node.Node, fn func(*meta.State) error) error {
	o, err := ReadOptionsFrom(ctx)
	if err != nil {
		return err
	}
	info, err := n.ReadAt(ctx, o, fn)
	if info.ServedBy != "" {
		lagMs := int64(-1) // unknown: never fully caught up
		if info.Lag < time.Duration(1<<62) {
			lagMs = info.Lag.Milliseconds()
		}
		// The header goes out with the answer, or with its error (not found
		// is an answer too).
		_ = grpc.SetHeader(ctx, metadata.Pairs(
			masterpb.MDServedBy, info.ServedBy,
			masterpb.MDAppliedIndex, strconv.FormatUint(info.AppliedIndex, 10),
			masterpb.MDLagMs, strconv.FormatInt(lagMs, 10)))
	}
	if errors.Is(err, node.ErrLagging) {
		return status.Error(codes.Unavailable, err.Error())
	}
	return toStatus(err)
}
