// Package faultproxy is a small loopback TCP proxy for tests that need a
// network fault between two processes (or two parts of one process): a
// partition, a one-way partition, or a one-way delay.
//
// A Proxy listens on a free loopback port and forwards every accepted
// connection to one upstream address. Faults apply per direction
// (ToUpstream: bytes the client sends; FromUpstream: bytes the upstream
// answers) and to connections already open as well as to new ones:
//
//   - Hold blackholes both directions (HoldDirection one of them): the
//     connections stay open, bytes already read wait in the proxy and the
//     rest in the kernel's buffers, as in a partition. A new connection is
//     accepted but not dialled upstream while ToUpstream is held.
//   - Delay(dir, d) delivers every byte of that direction no earlier than d
//     after the proxy read it, in order, as a slow or stalled path does.
//   - Heal undoes every hold and delay; what was held is then delivered.
//
// What it guarantees: bytes of one direction are delivered in the order they
// were read, never before their delay has passed and never while their
// direction is held; a fault set before a call returns applies to every byte
// read after it; memory is bounded (at most queueChunks chunks of chunkSize
// bytes wait per direction and connection; beyond that the proxy stops
// reading and TCP flow control pushes back on the sender). Close ends every
// connection and waits for every goroutine it started.
//
// What it does not do: drop or reorder bytes, corrupt them, or reset
// connections (Close does, for all of them at once). Time is the monotonic
// clock of the test's process; it is a test tool, not a network emulator.
//
// etcd's go.etcd.io/etcd/pkg/v3/proxy builds with the pinned etcd, but its
// Close waits for the copy goroutines without closing established
// connections (it hangs while a master holds one), a failed upstream dial
// leaves the accepted connection open and silent instead of refusing it, and
// its error channel must be drained or the accept loop blocks; this one is
// small enough to read in full.
package faultproxy
