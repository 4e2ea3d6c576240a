// Package node runs one master through its lifecycle:
//
//	standby → candidate → catching-up → primary → (deposed) → standby
//
// A node always holds the metadata state machine (package meta). While it
// is not primary it replays the log from etcd into it (walship.Tailer) and
// campaigns (package election). When it wins, the promotion gate opens only
// after it has read the last fenced index from etcd AFTER winning and applied
// every record up to it; then it writes a no-op record under its own token
// (the first write, which proves the fence is its own) and serves.
//
// Guarantees:
//   - Propose acknowledges a mutation only after the fenced transaction that
//     carries it committed and the mutation was applied.
//   - Before the gate opens, and as soon as leadership ends, every request
//     fails with ErrNotPrimary naming the primary when one is known.
//   - A deposed node fails everything still queued as not written, releases
//     its session (a fresh one is started for the next campaign) and resumes
//     replay from its applied index, which never runs ahead of the log.
//   - Reads are answered only while leadership is valid: the leader key is
//     known to exist and the lease is certainly unexpired on the monotonic
//     clock (a node resumed after a pause past its TTL refuses them), both
//     when the read starts and when it ends (lease.go: every leader-only
//     action that skips etcd goes through Serving, ServingUntil or Read).
//   - ReadConfirmed additionally confirms the leader key in etcd (one read
//     shared by concurrent readers), so a revoked primary never answers
//     from stale state, even before its watch reports the revoke.
//   - ReadAt (read.go) answers in every role: linearizable reads wait until
//     the log head read from etcd after they arrived is applied, session
//     reads until the client's index is; stale reads answer at once with a
//     lag that never understates the truth. A member that cannot answer in
//     time fails with ErrLagging. It does not promise that a lagging member
//     ever catches up: the client moves on.
//
// Incarnations and twins: with a data dir, a node locks it (package
// incarnation) and records each session's lease there before using it; at
// the start of every session it revokes the leases of dead incarnations
// (the lock proves them dead), so a restart serves, or its standby takes
// over, at once, and the history says "restart". It then claims its member
// key in a transaction that succeeds only while no other live lease holds
// it: a live twin with the same node_id stops Run with ErrDuplicateMember
// before this node writes anything.
//
// Crash detection (CrashDetect > 0): a standby watches the primary's RPC
// address (election.CrashWatch) and, when it actively refuses connections
// for CrashDetect (more for standbys less caught up), revokes the
// primary's lease, leaving a "crash" marker with the detect phase; never
// while paused, never on a timeout.
//
// With a data dir, a node writes checkpoints (standbys; the primary when
// alone), restarts from its newest valid one plus the log after it, fetches
// a peer's when the log was trimmed past it, and, as primary, trims the log
// below the oldest checkpoint every standby keeps. Without one it keeps
// nothing locally and a restart replays the whole log from etcd.
package node
