// Package config loads the configuration of the master binary.
//
// Every setting is a key (etcd.endpoints), a flag (--etcd-endpoints: dots and
// underscores become dashes) and an environment variable
// (MASTER_ETCD_ENDPOINTS: upper case, dots become underscores, prefix
// MASTER_). [Load] layers them with the precedence flag > environment >
// config file > default. A flag counts only when the user set it; an empty
// environment variable counts as unset.
//
// The config file is YAML: the path given with --config (it must exist), or
// ./config.yaml when that exists. Keys are case-insensitive and may be nested
// (etcd: {endpoints: [...]}) or dotted (etcd.endpoints: [...]).
//
// What Load guarantees:
//   - Every value is checked for its type and range, from whichever layer it
//     comes. A wrong type is an error, never a panic and never a silent
//     fallback to the default.
//   - Every error it returns wraps [ErrInvalid] and reads as one line that
//     starts with the key (or the file) at fault and says how to fix it, e.g.
//     `election.lease_ttl: "ten" is not a duration (use e.g. 10s); set in config.yaml`.
//   - An unknown key in the file is not an error but a warning, with the
//     closest known key suggested when one is close.
//
// Secrets: etcd.password is never part of an error message (not even a
// wrongly typed one) and [Config.Redacted] hides it for logging. The tls.*
// and etcd.tls.* keys hold file names, which may be shown.
//
// What it does not do: it does not open the TLS files (package tlsconfig
// does, when a command starts), resolve host names or contact etcd; it does
// not require node_id (only serve needs it: see [Config.RequireNodeID]); it
// does not watch the file for changes. Strings
// from the environment and flags are parsed strictly: durations need a unit
// (10s), numbers are decimal integers, booleans are those of
// [strconv.ParseBool].
package config
