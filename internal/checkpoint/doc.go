// Package checkpoint keeps a master's checkpoints on local disk: snapshots
// of the state machine at a log index, so that a restart replays only the
// log after them and the log in etcd can be trimmed below them.
//
// A checkpoint file (format 2) is
//
//	"GCK2" | index (8 bytes) | token (8 bytes) | CRC-32C of the 20 bytes before (4 bytes) | meta snapshot (self-checksummed)
//
// so every byte is under a checksum. Format 1 files ("GCK1", the same
// without the header checksum) still load; new ones are always format 2.
// Every file, saved locally or received from a peer, is written to a
// temporary file, fsynced, renamed into place and the directory fsynced, so
// a crash leaves either the old set or the new one.
// [Store.Load] verifies every checkpoint it loads (the header's checksum, the
// header's index against the snapshot's, the snapshot's CRC-32C and
// structure) before the state changes at all, and falls back to the previous
// one when the newest is corrupt or partial; it never loads a damaged one
// and never leaves a half-restored state.
//
// It does not decide when to checkpoint or what may be trimmed (package
// node does), and it knows nothing of etcd.
package checkpoint
