// Package benchsuite is `master bench`: the project's figures measured in
// one process, on one embedded etcd with fsync on, so that they compare.
//
// [Run] measures, in this order:
//
//   - memory: heap bytes per file of a [meta.State] holding Files files with
//     one chunk each (runtime.ReadMemStats after a GC, before etcd starts);
//   - write: acknowledged creates at Writers concurrent writers through
//     plain etcd puts (the yardstick), through the in-process engine
//     (node.Propose) and over RPC through the public client package, all on
//     the same etcd and taken in turn in WriteRounds rounds, so that the
//     machine's other load weighs on the three alike; then the RPC rate and
//     latency at each of SweepLevels;
//   - replay: a standby that was not running while the log grew to
//     ReplayRecords records is started and timed until it applied them all
//     (the primary is stopped first, so that its namespace is not in the
//     standby's heap, as it never is in production, and a bare election
//     holder keeps the standby a standby);
//   - failover: Failovers times, the primary of two in-process masters has
//     its lease revoked while the other campaigns with everything applied,
//     and the time to the new primary's first acknowledged write is
//     measured, split into phases (revoke to won, catch-up, first write,
//     the benchmark's own write) from node.Status().LastPromotion;
//   - restart: a master whose newest checkpoint holds Files files restarts
//     and is timed until it serves.
//
// [Result] is what `master bench -o json` prints; [Result.Table] is the
// text form, which marks each target of issue 7 met or MISSED, and
// [WriteSVGs] draws the failover timeline and throughput against latency as
// plain SVG. [Pair] is also what package bench's BenchmarkRevokeToFirstWrite
// runs, and [Drive] is the load driver of every write figure.
//
// [Curve] is `master bench --curve` (issue 15): creates and linearizable
// stats through one shared client.Client against two in-process masters at
// each concurrency C, beside etcd puts and linearizable gets at the same C
// on the same etcd, in interleaved rounds; [CurveResult.Table] marks issue
// 15's targets and [WriteCurveSVGs] draws ops/s and p99 against C.
//
// What it does not do: compare runs, or keep anything between them. The
// figures are of this machine and this run only, and a machine busy with
// other work (a disk shared with other fsyncs above all) moves them; the
// targets are stated for a 2-core machine. Every phase is bounded and stops,
// cleaning up, when its context ends.
package benchsuite
