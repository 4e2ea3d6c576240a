// Package embedetcd starts a single-member etcd server inside the current
// process, for dev mode, the maelstrom adapter and tests.
//
// It is not a production deployment: one member has no fault tolerance.
// Production masters point etcd.endpoints at a real cluster instead.
package embedetcd
