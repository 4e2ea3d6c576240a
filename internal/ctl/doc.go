// Package ctl implements the operator commands of `master ctl` on top of
// etcd and the client library: cluster status, forced failover,
// switchover, pause/resume, history and checkpoint. It decides nothing for
// the masters: failover is a lease revoke, exactly what `etcdctl lease
// revoke` would do (plus a short-lived marker so the history says why);
// switchover, checkpoint and trim are requests the masters judge; pause is
// a key the standbys watch.
package ctl
