// Package e2e tests the master as its users run it: the built `master`
// binary and an etcd server built from the version pinned in go.mod, as real
// processes on free loopback ports, driven through `master ctl`, the public
// client package, HTTP and gRPC.
//
// What it proves: every acknowledged create survives lease revokes (etcdctl
// and `ctl failover`), kill -9 and SIGSTOP of the primary past its lease TTL;
// after each fault a different master serves under a strictly higher token,
// the old primary rejoins as a standby, and both masters reach the same
// state digest at the same applied index. A paused primary that resumes
// acknowledges nothing. `ctl` and `serve` fail clearly on bad input and an
// unreachable etcd. Checkpoints: a member joins from an empty data dir after
// a trim, both masters recover from kill -9, a damaged newest checkpoint
// falls back. The data path keeps 150 MiB files byte-identical through the
// same faults. TLS and etcd authentication work end to end.
//
// The fault suite (faultsuite*_test.go) runs a three-member etcd cluster,
// three masters behind per-master TCP proxies and three chunkservers under
// random faults (lease revoke, kill -9, SIGSTOP, partition from etcd, etcd
// follower and leader loss) and checks the clients' history with porcupine
// (a write without a definite answer is maybe-applied), that no
// acknowledged write is lost, equal digests, and that no chunkserver obeys a
// stale token. TestFaultSuiteShort runs every fault kind once in the default
// run; `-tags faults` runs TestFaultSuite for -faults.duration.
//
// Crashes (crash_test.go), with the production 10 s lease: kill -9 of the
// primary is replaced well before the lease (crash detection) and the
// history says "crash"; a 3 s SIGSTOP causes no failover; a lone master
// killed and restarted serves well before its old lease would expire
// ("restart"); a killed standby rejoins; a second process with a live
// member's node_id, or on its data dir, exits 1 and changes nothing; the
// etcd leader killed under a serial writer causes no step-down and loses
// nothing.
//
// What it does not prove: behaviour across machines with skewed clocks, or
// under disk faults other than a full disk and corrupted files.
//
// TestMain builds the three binaries once (`go build`, never a download) into
// a temporary directory. Every test starts its own etcd and masters in its
// own directory, kills them in t.Cleanup and, when it fails, logs the tail of
// every process's stderr.
package e2e
