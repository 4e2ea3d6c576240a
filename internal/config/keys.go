package config

import (
	"strings"
	"time"
)

// kind is the type of a key's value.
type kind int

const (
	kindString kind = iota
	kindBool
	kindInt
	kindDuration
	kindStrings
)

// keyDef describes one configuration key.
type keyDef struct {
	name  string // dotted key, lower case: "etcd.dial_timeout"
	kind  kind
	def   any    // default, of the Go type of kind; nil when the key has none
	usage string // flag help: the key's meaning and, where pflag does not print it, its default
}

// keyDefs lists every key, in the order errors are reported.
var keyDefs = []keyDef{
	{"cluster", kindString, "default", "name of this master group; its etcd keys live under /gfsha/<cluster>"},
	{"node_id", kindString, nil, "this master's name, unique in the cluster (required for serve)"},
	{"listen", kindString, "127.0.0.1:7001", "RPC address (host:port) for clients and chunkservers"},
	{"http_listen", kindString, "127.0.0.1:8001", "address (host:port) of health, status and metrics"},
	{"data_dir", kindString, nil, "directory of checkpoints and local state (default data/<node_id>)"},
	{"etcd.endpoints", kindStrings, []string{"127.0.0.1:2379"}, "etcd endpoints, comma-separated host:port or URLs"},
	{"etcd.embed", kindBool, false, "start a single-member etcd inside this process (dev, tests) (default false)"},
	{"etcd.dial_timeout", kindDuration, 5 * time.Second, "timeout of the first connection to etcd"},
	{"etcd.username", kindString, nil, "etcd user name (empty: no authentication)"},
	{"etcd.password", kindString, nil, "etcd password; prefer MASTER_ETCD_PASSWORD, flags show in ps"},
	{"etcd.tls.ca", kindString, nil, "CA bundle that verifies etcd's server certificate (empty: system roots)"},
	{"etcd.tls.cert", kindString, nil, "client certificate file for etcd (with --etcd-tls-key)"},
	{"etcd.tls.key", kindString, nil, "client key file for etcd (with --etcd-tls-cert)"},
	{"etcd.compact", kindBool, false, "compact etcd's history after each log trim; only where this system owns the etcd cluster (default false)"},
	{"etcd.tls.insecure_skip_verify", kindBool, false, "do not verify etcd's server certificate (tests only) (default false)"},
	{"tls.cert", kindString, nil, "certificate file of this process's RPC server (with --tls-key; empty: plaintext RPC)"},
	{"tls.key", kindString, nil, "key file of this process's RPC server (with --tls-cert)"},
	{"tls.client_ca", kindString, nil, "CA bundle that RPC clients' certificates must chain to (empty: no client certificates asked)"},
	{"tls.ca", kindString, nil, "CA bundle that verifies the masters' (and chunkservers') RPC certificates (empty: system roots)"},
	{"tls.client_cert", kindString, nil, "certificate file presented to masters and chunkservers (with --tls-client-key)"},
	{"tls.client_key", kindString, nil, "key file presented to masters and chunkservers (with --tls-client-cert)"},
	{"tls.server_name", kindString, nil, "name to verify in RPC servers' certificates instead of the dialed host"},
	{"election.lease_ttl", kindDuration, 10 * time.Second, "lease TTL of the election, whole seconds in 2s..5m: how long a dead primary keeps leadership"},
	{"election.crash_detect", kindDuration, 500 * time.Millisecond, "how long the primary's RPC address must actively refuse connections (refused or reset; a timeout never counts) before a standby revokes its lease; 0 turns it off"},
	{"wal.max_batch_bytes", kindInt, 1048576, "largest group-commit batch of the log in etcd, 4096..1400000 bytes"},
	{"wal.commit_timeout", kindDuration, 5 * time.Second, "bound on one batch's commit to etcd"},
	{"wal.trim_interval", kindDuration, 5 * time.Second, "how often the primary trims the log below the members' checkpoints"},
	{"checkpoint.entries", kindInt, 1000000, "write a checkpoint after this many applied log entries, 1000..1000000000"},
	{"checkpoint.interval", kindDuration, 10 * time.Second, "how often to check whether a checkpoint is due"},
	{"checkpoint.keep", kindInt, 2, "checkpoints kept on disk, 2..100"},
	{"chunk.replication", kindInt, 3, "replicas of each chunk, 1..16"},
	{"chunk.size", kindString, "64MiB", "largest chunk, 64KiB..1GiB (KiB, MiB or GiB); never change it while files exist"},
	{"chunk.lease", kindDuration, 60 * time.Second, "chunk lease duration; a new primary waits this long before granting a lease that could conflict"},
	{"chunk.dead_after", kindDuration, 3 * time.Second, "a chunkserver silent this long is dead and its chunks are re-replicated"},
	{"read.consistency", kindString, "linearizable", "what a read may return: linearizable, session (your own writes and earlier reads) or stale"},
	{"read.from", kindString, "any", "which members reads go to: any, primary or shadow (shadows first, the primary last)"},
	{"read.max_lag", kindDuration, 5 * time.Second, "a stale read is refused by a member whose state may be older than this"},
	{"log.level", kindString, "info", "log level: debug, info, warn or error"},
	{"log.format", kindString, "text", "log format on stderr: text or json"},
	{"tags.nofailover", kindBool, false, "this member replays and serves reads but never campaigns, so never becomes primary (default false)"},
	{"tags.failover_priority", kindInt, 1, "among caught-up candidates the highest priority leads, 0..1000"},
	{"hooks.on_role_change", kindString, nil, "command run on every role change with arguments ROLE NODE CLUSTER TOKEN"},
	{"http.tls.cert", kindString, nil, "certificate file of the HTTP endpoints (with --http-tls-key; empty: plaintext HTTP unless http.tls.rpc_keys)"},
	{"http.tls.key", kindString, nil, "key file of the HTTP endpoints (with --http-tls-cert)"},
	{"http.tls.rpc_keys", kindBool, false, "serve the HTTP endpoints over TLS with tls.cert and tls.key (default false)"},
	{"hooks.timeout", kindDuration, 30 * time.Second, "a role-change hook still running after this is killed"},
}

// sections are the keys that group other keys; in the file each is a mapping.
var sections = []string{"etcd", "etcd.tls", "tls", "election", "wal", "checkpoint", "chunk", "read", "log", "tags", "hooks", "http", "http.tls"}

// flagName returns the flag of key: etcd.dial_timeout -> etcd-dial-timeout.
func flagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// envName returns the environment variable of key:
// etcd.dial_timeout -> MASTER_ETCD_DIAL_TIMEOUT.
func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

const envPrefix = "MASTER"

func lookupKeyDef(key string) (keyDef, bool) {
	for _, d := range keyDefs {
		if d.name == key {
			return d, true
		}
	}
	return keyDef{}, false
}

func isSection(key string) bool {
	for _, s := range sections {
		if s == key {
			return true
		}
	}
	return false
}
