// Package bench holds the benchmarks of the write path and of failover,
// all against one embedded etcd per run so that their figures compare:
//
//	go test -run '^$' -bench . -benchtime 5s ./internal/bench/
//
// BenchmarkEtcdPut is etcd's own put rate at the same concurrency, the
// yardstick for BenchmarkEngineCreate (in-process, node.Propose) and
// BenchmarkRPCCreate (public client over gRPC). BenchmarkRevokeToFirstWrite
// revokes the primary's lease and times the new primary's first
// acknowledged write, reporting p50/p99. BenchmarkRestart1M restarts a
// master whose checkpoint holds 1 M files and times it to serving.
package bench
