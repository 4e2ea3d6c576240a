// Package client is the public Go client of a GFS-style HA master group.
//
// It finds the primary through etcd (watching the election, so a failover
// is followed within milliseconds), sends each request there, and retries
// across failover until the caller's context ends:
//
//   - "not primary" and connection failures are retried against the
//     primary etcd names next;
//   - a mutation whose outcome is unknown is retried with the same
//     (client id, sequence) pair, which the master's dedup table answers
//     without applying it twice. A create that did land is therefore
//     reported as success, not as "exists".
//
// A Client is safe for concurrent use: each in-flight mutation uses its own
// lane (a sub-id with its own sequence), so concurrent calls never make a
// retry look stale.
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
