// Package checkpoint keeps a master's checkpoints on local disk: snapshots
// of the state machine at a log index, so that a restart replays only the
// log after them and the log in etcd can be trimmed below them.
//
// A checkpoint file is
//
//	"GCK1" | index (8 bytes) | token (8 bytes) | meta snapshot (self-checksummed)
//
// written to a temporary file, fsynced, renamed into place and the
// directory fsynced, so a crash leaves either the old set or the new one.
// [Store.Load] verifies every checkpoint it loads (the snapshot's CRC-32C and
// structure) and falls back to the previous one when the newest is corrupt
// or partial; it never loads a damaged one.
//
// It does not decide when to checkpoint or what may be trimmed (package
// node does), and it knows nothing of etcd.
package checkpoint
