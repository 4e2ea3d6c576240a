// Package incarnation tells a dead earlier run of a master from a live twin.
//
// A master locks its data directory (flock on DATA_DIR/LOCK) for as long as
// it runs, and records in it (incarnation.json, written and fsynced before
// the lease is used) the etcd lease of every session it opens. The kernel
// drops the lock when the process dies, however it dies, so:
//
//   - A second process on the same data directory fails to lock it and
//     must exit: two processes never share one data directory.
//   - A process that does get the lock knows that every lease recorded in
//     the file belongs to an incarnation that is gone (from this host:
//     the lock proves nothing about another machine using a copy of the
//     directory). It may revoke those leases at once instead of waiting
//     out their TTL; revoking is always safe, since every leader-only write
//     in etcd is fenced by the leader key the lease carries.
//
// What it does not do: detect a twin that runs with another data directory.
// That is the member key's job (package node claims it in an etcd
// transaction that succeeds only while no other live lease holds it).
package incarnation
