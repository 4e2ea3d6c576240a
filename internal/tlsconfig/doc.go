// Package tlsconfig turns the file names of the tls.* and etcd.tls.* keys
// into TLS configurations: the master's (or a chunkserver's) gRPC server,
// the connections every process makes to masters and chunkservers, and the
// connection to etcd.
//
// What it guarantees:
//   - Every file is read and checked when the configuration is built, that
//     is when a command starts: a missing or unreadable file, one without a
//     PEM certificate, a key that does not match its certificate, or a
//     certificate outside its validity period is an error that names the key
//     and the file, and wraps [config.ErrInvalid] (the binary exits with 2).
//   - With tls.cert set the RPC listener speaks only TLS (1.2 or later). With
//     tls.client_ca set too, a client that does not present a certificate
//     chaining to that CA fails the handshake, before any RPC runs: its
//     calls end with codes.Unavailable.
//   - Dialing with tls.ca set verifies the server's certificate against that
//     CA only, for the dialed host or tls.server_name.
//   - Nothing here logs, and no error carries the contents of a key file.
//
// What it does not do: it authenticates, it does not authorize. Any client
// with a certificate from tls.client_ca may call every RPC (namespace,
// chunkserver heartbeats, checkpoint fetches); use separate CAs per cluster.
// The HTTP endpoints (http_listen) serve TLS with http.tls.cert/http.tls.key
// (or the RPC's pair with http.tls.rpc_keys) but never ask for client
// certificates: they stay unauthenticated, so bind them to a trusted
// network. Server certificates (RPC and HTTP) are reloaded when their files
// change (checked at most once a second, at a handshake; a pair that does
// not load keeps the previous one in service); client and CA files are read
// once. There is no revocation checking (CRL, OCSP).
package tlsconfig
