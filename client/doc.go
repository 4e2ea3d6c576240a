// Package client is the public Go client of a GFS-style HA master group.
//
// It finds the primary through etcd (watching the election, so a failover
// is followed within milliseconds), sends each request there, and retries
// across failover until the caller's context ends:
//
//   - "not primary" and connection failures are retried against the
//     primary etcd names next;
//   - a mutation whose outcome is unknown is retried with the same
//     (session, lane, sequence), which the master's session table answers
//     without applying it twice. A create that did land is therefore
//     reported as success, not as "exists";
//   - a master that is overloaded (RESOURCE_EXHAUSTED) is retried with
//     backoff.
//
// The client registers a session in the master's log before its first
// mutation. Retries are exactly-once while the session lives: it expires
// after an hour without a mutation (by the log's clock) or when the master
// holds too many sessions. A retry the master can no longer match fails
// with ErrUnknownResult and is never applied again; a first attempt under
// an expired session just moves to a new session. A call whose context ends
// after an attempt may have reached the master returns an error matching
// both ErrUnknownResult and the context's error: check before repeating it.
//
// Reads (Stat, List) go to any caught-up member, per Config.Read: with
// linearizable consistency (the default) they reflect every write
// acknowledged before they began wherever they are served; session reads
// never go behind what this client has seen; stale reads state their lag.
// A member that refuses or fails moves the read to the next one, and a slow
// one gets a hedged copy after 250 ms (see docs/reads.md).
//
// A Client is safe for concurrent use: each in-flight mutation uses its own
// lane (a sub-id with its own sequence), so concurrent calls never make a
// retry look stale. At most 4,096 mutations are in flight per client (more
// wait), and concurrent mutations travel in Batch calls of at most 1 MiB.
//
// Data: Open returns a streaming Reader (ReadAt, Read, read-ahead over
// cached chunk locations), CreateFile a streaming Writer (several pieces in
// flight, bounded memory, the file published on Close); Append is GFS
// record append (the chunk's primary replica picks the offset; records
// carry ids, ScanRecords drops duplicates and skips padding).
//
// Errors wrap the package's sentinels (ErrNotFound, ErrExists, ...), to be
// tested with errors.Is; their text is the master's message.
package client
