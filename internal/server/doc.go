// Package server assembles one master process: the etcd connection (or an
// embedded etcd), the node, its gRPC API and its HTTP endpoints. `master
// serve` runs one; `master dev` runs several in one process.
//
// Every goroutine it starts ends before Close returns.
package server
