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
// unreachable etcd.
//
// What it does not prove: linearizability of every history (a create that
// returned an error is treated as maybe-applied and not checked further), nor
// behaviour under network partitions or multi-member etcd clusters.
//
// TestMain builds the three binaries once (`go build`, never a download) into
// a temporary directory. Every test starts its own etcd and masters in its
// own directory, kills them in t.Cleanup and, when it fails, logs the tail of
// every process's stderr.
package e2e
