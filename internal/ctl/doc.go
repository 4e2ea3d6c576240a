// Package ctl implements the operator commands of `master ctl` on top of
// etcd and the client library: cluster status, forced failover, and the
// printing of their results as tables or JSON. It decides nothing for the
// masters: failover is a lease revoke, exactly what `etcdctl lease revoke`
// would do.
package ctl
