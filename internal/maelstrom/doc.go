// Package maelstrom speaks the seed task's protocol (`master maelstrom`):
// JSON messages one per line on stdin, replies one per line on stdout, logs
// only on stderr.
//
// On init it runs the masters named in node_ids inside this process, each a
// real node.Node with its own etcd client, over one embedded etcd whose data
// lives in a temporary directory removed at exit. The first master is
// started first and serves; each other one is started in turn and joins the
// election queue as a caught-up standby before init_ok is sent. Every figure
// in a reply is measured from these masters, none is made up:
//
//   - shadow_status: primary is the master serving now; shadow is the most
//     caught-up standby (ties go to the one first in the election queue,
//     the one that takes over next); wal_lag_entries and wal_lag_ms are its
//     replay lag behind the log head in etcd. An idle group has no lag.
//   - trigger_failover naming the primary revokes its session lease, as
//     `etcdctl lease revoke` would, and waits (at most 4 s) for another
//     master to serve: failover_time_ms runs on the monotonic clock from just
//     before the revoke to that moment, wal_entries_replayed is what the new
//     primary replayed after winning. The failed master notices, starts a
//     fresh session and campaigns again as a standby; the reply waits for
//     that and for every standby to replay the new primary's first write
//     (same bound), so failover can repeat and fail back, and the next
//     shadow_status sees the group settled. Naming a standby changes
//     nothing: the primary stays, both figures are 0.
//
// Guarantees:
//   - Requests are answered one at a time, in input order; each reply's
//     msg_id counts from 0 over every reply sent, errors included.
//   - Replies are written byte for byte as Python's json.dumps writes the
//     seed's checker output (see Marshal): keys src, dest, body; in body type,
//     in_reply_to, msg_id, then the type's fields in the contract's order.
//     Millisecond figures that are whole are written as integers (0, not
//     0.0); others keep microsecond precision.
//   - Errors are {"type": "error", "in_reply_to", "msg_id", "code", "text"}:
//     10 unknown type; 11 any request but init before init (unknown types
//     included); 12 malformed: no body, type or integer msg_id, a missing
//     field or one of the wrong type, an unknown master named, an empty or
//     repeated master name, or an init that differs from the first; 13 the
//     request could not be carried out (etcd did not start, no standby to
//     take over, none served in time). When the request had no integer
//     msg_id, in_reply_to is null.
//   - A repeated init identical to the first is answered init_ok again and
//     restarts nothing, so a client that lost the reply may retry. A failed
//     init leaves the node uninitialized, so it may be retried too.
//   - A line that is not JSON, or is JSON but not an object with a string
//     src to reply to, is noted on stderr and skipped; blank lines are
//     skipped silently. The node keeps serving.
//   - When stdin closes, Run stops the masters (each revokes its lease) and
//     etcd, removes etcd's data and returns.
//
// It does not: simulate missed heartbeats (failover is by revoke, so the
// 2 s lease TTL never has to run out), write to the metadata log on its own
// (so lag and replay counts are those of an idle group), or survive its own
// restart (etcd's data is temporary).
package maelstrom
