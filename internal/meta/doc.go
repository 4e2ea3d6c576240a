// Package meta is the deterministic metadata state machine of the master: the
// namespace (directories and files), each file's size and chunk handles, and
// each chunk's version.
//
// It is driven by a replicated log. Each log entry is one Op, encoded with
// Op.Marshal or Op.AppendTo and decoded with UnmarshalOp; State.Apply (or
// State.ApplyEncoded) applies entry i after entry i-1.
//
// # Guarantees
//
//   - Deterministic apply. The state after applying entries 1..i depends only
//     on those entries: not on time, randomness, map order or the machine.
//     Chunk handles are allocated from a counter in the state, failed ops
//     still consume their entry the same way everywhere, and the dedup table
//     evicts by log index. Two replicas that applied the same entries have the
//     same Digest; states that differ (in the tree, AppliedIndex, the
//     next-handle counter, the dedup and session tables or the log time)
//     have different digests.
//   - Dense, ordered indexes. Apply refuses any index but AppliedIndex()+1
//     (ErrIndex) and then changes nothing; it never skips or repeats.
//   - Check agrees with Apply. Check(op) returns the error Apply(op) would
//     return as the next entry in the current state, because both use the same
//     validation code. The one difference is a retry the dedup table will
//     answer: Check says nil, Apply returns the remembered Result. Check is
//     only as good as the state it reads: an op checked now can still fail at
//     apply time if other entries are applied in between.
//   - Exactly-once within a session. A client registers a session
//     (OpRegisterSession; its id is the entry's index) and tags each
//     mutation with (Session, lane ClientID, Seq). A Seq equal to the lane's
//     last is answered from the session table (its original Result) instead
//     of running again; a lower Seq fails with ErrStale. A session lives
//     until it has been idle for SessionTimeout of LOG time (the batch times
//     the primary stamps, passed to ApplyAt; replicas never read their own
//     clock) or is evicted whole, least recently active first, under
//     MaxSessions and MaxLanes. An op naming a session the table does not
//     hold fails with ErrSessionExpired and never runs: for a retry, the
//     outcome of its first attempt is unknown, never executed twice.
//   - Legacy retries. An op with a ClientID and no Session uses the older
//     dedup table (the last op of at most MaxClients clients, least recently
//     applied forgotten first), kept so that old logs replay the same; the
//     master no longer accepts such ops from clients.
//   - Snapshots are consistent and verified. Snapshot writes a canonical,
//     CRC-32C-protected encoding of the whole state under the read lock;
//     Restore checks the checksum and the state's invariants and swaps the
//     state in only if all of it is good.
//
// # Threading
//
// Apply, ApplyEncoded and Restore change the state and must be called from
// one goroutine at a time (the replayer or the appender of the owning
// master). Every other method (Check, Stat, List, Files, Dirs, Dedup,
// AppliedIndex, Digest, Snapshot) may run concurrently with them and with
// each other: a sync.RWMutex serialises writers against readers. Snapshot and
// Digest hold the read lock for their whole walk, so Apply waits for them.
//
// # What it does not do
//
// The package knows nothing of etcd, gRPC, the network or disks. It does not
// make anything durable: the log that feeds Apply, and the files Snapshot
// writes to, belong to the caller, as do fencing and leadership (OpNoop only
// marks a new primary's first entry). It does not garbage-collect chunks of
// deleted files or track where chunk replicas live.
//
// # Choices worth knowing
//
//   - Paths must already be clean (ValidatePath); they are not cleaned for
//     the caller. Stat("/") names the root "/".
//   - A name being created (create, mkdir, rename destination) must also be
//     valid UTF-8 with no control character (C0, DEL, C1): Check refuses
//     it naming the byte offset (ValidateNewPath). Apply does not, so a log
//     written before that rule replays exactly as it did, and such a name
//     can still be listed, renamed and removed.
//   - Renaming a path onto itself fails with ErrExists (the destination
//     exists), like any rename onto an existing path; rename never replaces.
//     Renaming "/" or moving a path into its own subtree fails with
//     ErrInvalidMove. Deleting "/" fails with ErrInvalidPath.
//   - Dirs counts the root directory.
//   - Error messages quote at most 256 bytes of each path, since failed
//     results are kept in the dedup table.
package meta
