// Package drill is `master ctl drill`: a failover drill an operator runs
// against a live cluster. It keeps a small workload of its own running
// (creates of fresh files and linearizable stats of files created before,
// in a directory of its own), makes N leadership changes one after another
// (a graceful switchover, or a forced failover that revokes the primary's
// lease), and then reports:
//
//   - unavailability per kind: for each change, the longest gap between two
//     acknowledged writes around it (p50, p99 and max over the rounds);
//   - lost writes: every create the cluster acknowledged must be there at
//     the end (a linearizable stat of each);
//   - linearizability: the whole history of its own operations, checked
//     with porcupine per file, treating a write with no definite answer as
//     maybe applied.
//
// What it does not do: inject crashes, pauses or partitions (the test
// suite's fault suite does, against processes it owns), or check data
// chunks. It writes only below its own directory (`/.drill-<time>`), which
// it leaves in place so that an operator can inspect it; remove it with
// `ctl rm` when done.
package drill
