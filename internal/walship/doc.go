// Package walship keeps a master's operation log in etcd: the primary's
// group-commit [Appender] and the standbys' [Tailer].
//
// Layout under a log prefix P:
//
//	P/b/<first index, 20 digits>   one batch of records, checksummed
//	P/head                         the last fenced index, 20 digits
//	P/first                        the first index still in the log (after a trim)
//
// Guarantees:
//
//   - Every batch is written by ONE etcd transaction whose If clause holds the
//     writer's fencing guard and the expected head. A writer whose leader key
//     is gone, or whose idea of the head is stale, writes nothing; the
//     Appender then fails every pending append with [ErrDeposed] and stops.
//
//   - Indexes are dense: a batch starts at head+1 and moves head to its last
//     index in the same transaction.
//
//   - Every record carries its writer's token and every batch a CRC-32C; a
//     Tailer verifies both, applies strictly in index order, requires tokens
//     never to decrease, and stops with [ErrGap] or [ErrCorrupt] rather than
//     skip anything.
//
//   - The Appender applies a record to the state machine, and acknowledges it,
//     only after its transaction committed.
//
//   - The Appender's queue is bounded in bytes: an Append that does not fit
//     waits a bounded time for room, then fails with [ErrBusy]; a queued
//     record whose caller left is dropped before it is sent ([ErrAbandoned]).
//     Neither is written.
//
//   - Every record carries its batch's time stamp (the writer's clock when it
//     sent the batch), the same on every replica: the log time a state
//     machine may use instead of its own clock.
//
//   - A batch whose transaction fails with a retriable error (etcd's leader
//     lost or changed, an attempt's deadline of a tenth of the commit
//     timeout) is retried in place: the same transaction, whose compares let
//     at most one attempt apply, until the commit timeout. When an attempt of
//     unknown fate is followed by a failed compare, the batch key is read
//     back: the batch committed exactly when it holds the same bytes (index,
//     token, checksum). A batch in the log is never reported as deposed, so
//     losing etcd's leader costs about etcd's own election, not a step-down.
//
// What it does not do: decide who leads (package election), or interpret
// records (the state machine behind [StateMachine]). An append whose
// outcome is still unknown at the commit timeout (etcd unreachable) fails
// with [ErrUnknownOutcome]: the record may or may not be in the log, and the
// Appender stops so that a Tailer, not a guess, settles the state.
package walship
