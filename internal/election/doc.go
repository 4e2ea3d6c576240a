// Package election runs a master's campaign for leadership through an etcd
// concurrency session, and exposes leadership as a context.
//
// Guarantees:
//
//   - The session's lease (10 s by default) is the failure detector: when a
//     leader stops renewing it, etcd deletes the leader key and the oldest
//     remaining candidate wins.
//   - [Leadership.Context] is cancelled the moment leadership can no longer
//     be assumed: the session's keepalive stopped (no answer for a TTL), the
//     leader key was deleted (a revoke is seen through a watch within
//     milliseconds, not at the next keepalive), or the caller resigned. A
//     lapse of the validity alone (answers too slow on a loaded machine)
//     does not cancel it: it stops only what the validity gates (anything
//     answered without etcd), until a renewal is answered again; writes
//     stay fenced in etcd either way.
//   - [Campaign] returns when the session expires while it waits (etcd issue
//     19597: concurrency.Election.Campaign alone would block forever).
//   - Lease validity ([Session.ValidUntil], [Leadership.ValidUntil]) is
//     counted only from the SEND time of a renewal that etcd answered: a
//     renewal sent at S (monotonic clock, read before the request leaves)
//     and answered with TTL proves the lease until S+TTL, because etcd
//     counts the TTL from when it processed the renewal, after S. Validity
//     is S+TTL minus a margin (TTL/10, at least 200 ms, for clock rate and
//     the step from a check to its action) for the latest such S; it never
//     grows from an answer's arrival, so an answer delayed on its way back
//     (a slow path, a GC stall, a SIGSTOP with the answer in the socket)
//     cannot stretch it past the lease's real end. Validity only grows, and
//     a renewal etcd did not answer proves nothing. The session sends its
//     own renewals (every TTL/4, up to four awaiting their answers) to know
//     their send times; the etcd
//     client's keepalives keep the lease alive too but are never counted.
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
// guard; anything answered from memory without an etcd round trip must
// finish before [Leadership.ValidUntil] (check it before AND after the
// read), and a message sent under the lease must carry that deadline.
package election
