// Package rpcserver serves the master's gRPC API (api/masterpb) over a
// node. It translates requests into state-machine ops and errors into gRPC
// codes that the client library maps back:
//
//	meta.ErrNotFound                         NotFound
//	meta.ErrExists                           AlreadyExists
//	meta.ErrInvalidPath, ErrInvalidMove, ... InvalidArgument
//	meta.ErrNotEmpty, ErrNotDir, ErrIsDir    FailedPrecondition
//	node.ErrNotPrimary                       Unavailable   (not applied; retry elsewhere)
//	node.ErrUnknownOutcome                   Aborted       (maybe applied; retry same seq)
//	meta.ErrSessionExpired                   Unknown       (not applied now; a retry's first attempt may have been)
//	node.ErrOverloaded, no free slot         ResourceExhausted (not applied; retry with backoff)
//
// At most MaxInflight mutations are being proposed at once across all calls
// (one goroutine each); a mutation waits up to SlotWait for a slot.
//
// It holds no state of its own.
package rpcserver
