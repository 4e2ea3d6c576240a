// Package election runs a master's campaign for leadership through an etcd
// concurrency session, and exposes leadership as a context.
//
// Guarantees:
//
//   - The session's lease (10 s by default) is the failure detector: when a
//     leader stops renewing it, etcd deletes the leader key and the oldest
//     remaining candidate wins.
//   - [Leadership.Context] is cancelled the moment leadership can no longer
//     be assumed: the session's keepalive stopped, the leader key was deleted
//     (a revoke is seen through a watch within milliseconds, not at the next
//     keepalive), the lease's known validity ran out, or the caller resigned.
//   - [Campaign] returns when the session expires while it waits (etcd issue
//     19597: concurrency.Election.Campaign alone would block forever).
//   - [Leadership.Token] is the fencing token: the leader key's create
//     revision. Writes made in etcd under [fencing.Guard] fail once the key is
//     gone, whatever this process believes.
//
// Crash detection ([CrashWatch]): the lease is the detector for what cannot
// be seen (a paused process, a lost host, a partition). A crashed process on
// a live host can be seen: its address actively refuses connections. A
// standby keeps one idle TCP connection to the primary's advertised address
// and, when it breaks, probes by dialing; only "connection refused" and
// "connection reset" are evidence, and only when they last, unbroken, for
// election.crash_detect. A timeout, an unreachable network or any other
// error is never evidence and restarts the count, so a paused or
// partitioned primary keeps its leadership until its lease runs out, and a
// pause shorter than the TTL never causes a failover. The standby then
// revokes the primary's lease. Why that is safe whatever the truth: every
// leader-only write carries the fence on the leader key that the lease
// holds, so a primary revoked by mistake (say its process was restarted on
// the same port a moment later) can write nothing more, and the cost of a
// wrong guess is one failover, never two writers.
//
// What it does not guarantee: that a cancelled context is noticed before the
// caller's next step. Any write that matters must still carry the fencing
// guard; any read that must be current checks [Session.LeaseValid] first.
package election
