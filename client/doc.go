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
// Reads (Stat, List) go to any caught-up member, per Config.Read: with
// linearizable consistency (the default) they reflect every write
// acknowledged before they began wherever they are served; session reads
// never go behind what this client has seen; stale reads state their lag.
// A member that refuses or fails moves the read to the next one, and a slow
// one gets a hedged copy after 250 ms (see docs/reads.md).
//
// A Client is safe for concurrent use: each in-flight mutation uses its own
// lane (a sub-id with its own sequence), so concurrent calls never make a
// retry look stale.
//
// Errors wrap the package's sentinels (ErrNotFound, ErrExists, ...), to be
// tested with errors.Is; their text is the master's message.
package client
