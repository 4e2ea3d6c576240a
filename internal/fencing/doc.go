// Package fencing defines the fencing token of a GFS-style master and the two
// places it is enforced.
//
// The token is the create revision of the primary's election key in etcd.
// etcd revisions only grow, so a later leader always holds a larger token
// than any earlier one.
//
// In etcd, every leader-only write carries the comparison returned by
// [Guard]: CreateRevision(leaderKey) == token. Once the leader key is gone
// (lease revoked or expired, or resigned) the comparison fails atomically
// inside etcd, so a deposed, paused or partitioned master cannot write, no
// matter what it believes about itself. This protects every key written
// through a guarded transaction; it does not protect writes that skip the
// guard, and it says nothing about reads (see package election for the
// read lease).
//
// At the resource, a chunkserver keeps a [Highest] guard: the highest token
// it has seen, persisted with fsync before it is acted upon, so commands from
// an older primary are refused even across the chunkserver's own restart.
// The guard does not stop a command that arrives before a newer token has
// ever been seen; that window is closed by the newer primary contacting the
// chunkserver before granting anything that could conflict.
package fencing
