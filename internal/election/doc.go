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
// What it does not guarantee: that a cancelled context is noticed before the
// caller's next step. Any write that matters must still carry the fencing
// guard; any read that must be current checks [Session.LeaseValid] first.
package election
