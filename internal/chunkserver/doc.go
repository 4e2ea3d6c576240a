// Package chunkserver is one chunkserver (`master chunkserver`): it keeps
// chunk replicas as files, follows the primary master through etcd, obeys
// only the newest fencing token it has seen, and serves the data path.
//
// Store. Each replica is HANDLE.dat (the bytes) and HANDLE.meta (version,
// size, maximum size, one CRC-32C per 64 KiB block, itself checksummed)
// under DIR/chunks. Every read verifies the blocks it touches; a replica that
// fails is quarantined to DIR/corrupt and never served again. A write is
// fsynced before its metadata is replaced atomically; a failed append (a
// full disk) is cut off, leaving the replica exactly as it was. DIR is
// locked (flock on DIR/LOCK) and tied to one id (DIR/ID): a second process
// on it fails at once, naming the directory and the holder.
//
// Fencing. DIR/TOKEN holds the newest token seen (fencing.Highest, fsynced
// before it is acted upon). Tokens come from the election in etcd, watched
// (a new primary's token is persisted the moment it wins, before it even
// serves), from heartbeat answers and from the commands themselves. Every
// master command (create, delete, copy, set version, grant or revoke a
// lease) and every forwarded write carries a token; an older one is refused
// with PERMISSION_DENIED naming both tokens, across restarts too.
//
// Leases and writes. A lease makes this chunkserver the primary replica of
// a chunk at one version until it expires (counted from its receipt, and
// never past the grant's deadline, the end of the granting master's lease).
// A command whose deadline passed before it took effect is refused. The
// primary orders the writes to the chunk (one at a time), applies each and
// forwards it, frame by frame, to every secondary named in the lease
// (Forward, under the lease's token and version); it answers the client only
// when every replica has fsynced the write, and only while its lease holds.
// A secondary at another version refuses, so a replica that missed a version
// bump can never take part in a write again.
//
// Record append (append.go). A write marked append carries no offset: the
// primary picks the end of its replica, under the chunk's write order, and
// applies the record there on every replica as above; a record that does
// not fit is not written, the chunk is padded with zeros to its full size
// on every replica instead and the client is told to use a new chunk. A
// failed attempt may leave bytes on some replicas only; the client retries,
// so a record lands at least once (readers drop duplicates by record id).
//
// What it does not do: decide anything about placement, versions or leases
// (the master does); notice a new primary while cut off from etcd (it keeps
// heartbeating to the last one it knew, which refuses it once deposed).
package chunkserver
