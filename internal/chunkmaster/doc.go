// Package chunkmaster is the primary master's side of the data path: the
// chunk-location map, chunk allocation, chunk leases, re-replication and
// garbage collection.
//
// It runs only while its node serves, one term per leadership (see
// Manager): a term starts when the node is promoted and ends the moment the
// node no longer holds that token. Everything a term knows is volatile and
// is never logged: replica locations are rebuilt from the chunkservers'
// heartbeats (a chunkserver registers only once it obeys the term's token,
// and reports all its replicas then), and the leases from what their
// holders report.
//
// Every member, whatever its role, also keeps an advisory location table
// (shadow.go) from the reports chunkservers send to every master
// (chunkpb.MDReportOnly): a shadow answers Locate from it, the file read
// with the request's read consistency, and a new term starts with its live
// chunkservers and replicas, so a new primary knows every replica the moment
// it serves. A report registers nothing and hands out no token; leases are
// never seeded (the term's grace period waits out the previous primary's).
//
// What it guarantees:
//   - Every command to a chunkserver (create, delete, copy, set version,
//     grant or revoke a lease) carries the term's fencing token, is sent
//     only while the node serves, and carries the end of the node's lease
//     as its deadline (copies excepted); a command that succeeded after
//     the lease ended counts as failed, and every answer built from the
//     term's memory is refused if the lease ended while it was built. A
//     chunk lease lasts at most the master's remaining lease validity. A chunkserver refuses a token older than
//     the newest it has seen, and learns a new primary's token from etcd the
//     moment the election changes hands, so a deposed master's commands are
//     refused even before the chunkserver re-attaches.
//   - At most one live lease per chunk. A new lease comes with a version
//     bump that is logged before any chunkserver hears of it; a lease granted
//     by an earlier primary is adopted when its holder reports it, and no
//     other lease is granted on a chunk from before this term until the lease
//     duration has passed since the term began (see lease.go).
//   - A replica whose version is below the logged one is stale: it is never
//     handed to a client, and it is deleted once a current replica lives. A replica of a chunk no file
//     holds is deleted, but only after a scan of a state at least as new as
//     its report (so a chunk being allocated is never taken for garbage).
//   - Chunks with fewer live current replicas than Config.Replication are
//     copied from a current replica to another chunkserver, with no lease
//     live on them during the copy.
//
// A lease whose holder stops heartbeating (dead, or cut off) is superseded
// before it expires only when one of its secondaries took the new version:
// the old holder can then complete no write, since every write must be
// applied on every secondary. With no secondary, it is waited out.
//
// What it does not guarantee: that a chunkserver cut off from etcd learns of
// a new primary (it keeps the lease it holds until it expires, and the new
// primary waits that out); any placement beyond "fewest replicas first".
//
// Over-replicated chunks (a chunkserver returning after its chunks were
// copied elsewhere) are trimmed back to the factor, from the fullest
// chunkservers, only while no lease may order writes to the chunk. Fsck
// reports every file's chunks against the factor.
package chunkmaster
