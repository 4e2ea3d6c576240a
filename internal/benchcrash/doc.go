// Package benchcrash measures, as a user would, how fast a crashed master
// is replaced: real `master serve` child processes of this binary, with the
// default 10 s lease and crash detection on, over an embedded etcd (fsync
// on).
//
//   - kill -9 of the primary of two masters → the first acknowledged
//     create (p50, p99, max over the runs); the killed master is restarted
//     and caught up before the next run.
//   - a lone master killed with kill -9 and started again → its first
//     acknowledged create, counted from the process's start.
//
// The figures depend on the machine; nothing here asserts them.
package benchcrash
