package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Errors returned by this package.
var (
	// ErrInvalid is wrapped by every error of Load and RequireNodeID: the
	// configuration is unusable (bad value, bad file, missing file). The
	// binary exits with code 2 on it.
	ErrInvalid = errors.New("config: invalid")
)

// Config is the configuration of one master process, as Load returns it:
// every field checked, defaults filled in. Log it through Redacted.
type Config struct {
	Cluster    string // cluster: names the master group; its etcd keys live under Prefix()
	NodeID     string // node_id: this master's name; required for serve only
	Listen     string // listen: RPC address (host:port)
	HTTPListen string // http_listen: health, status and metrics (host:port)
	DataDir    string // data_dir: checkpoints and local state; default data/<node_id>

	Etcd       Etcd
	TLS        RPCTLS // tls.*: TLS of the RPC this process serves and dials
	Election   Election
	WAL        WAL
	Checkpoint Checkpoint
	Chunk      Chunk
	Read       Read
	Log        Log
	Tags       Tags
	Hooks      Hooks
	HTTPTLS    HTTPTLS // http.tls.*: TLS of the HTTP endpoints
}

// Etcd is how to reach the etcd cluster (keys etcd.*).
type Etcd struct {
	Endpoints   []string      // etcd.endpoints: host:port or URLs
	Embed       bool          // etcd.embed: run a single-member etcd in this process
	DialTimeout time.Duration // etcd.dial_timeout
	Username    string        // etcd.username
	Password    string        // etcd.password: secret; log Config.Redacted() only
	Compact     bool          // etcd.compact: compact etcd's history after each log trim
	TLS         TLS
}

// plainEtcd is Etcd without its methods, so that formatting does not recurse.
type plainEtcd Etcd

func (e Etcd) redacted() plainEtcd {
	p := plainEtcd(e)
	if p.Password != "" {
		p.Password = "****"
	}
	return p
}

// String formats e as %+v would, with a non-empty password as "****", so
// that printing or logging a Config (or its Etcd) cannot show the password.
func (e Etcd) String() string { return fmt.Sprintf("%+v", e.redacted()) }

// MarshalJSON encodes e with a non-empty password as "****" (slog's JSON
// handler, for one, encodes values so).
func (e Etcd) MarshalJSON() ([]byte, error) { return json.Marshal(e.redacted()) }

// TLS is the client TLS setting for etcd (keys etcd.tls.*). Cert and Key are
// set together or not at all.
type TLS struct {
	CA                 string // etcd.tls.ca: CA bundle file
	Cert               string // etcd.tls.cert: client certificate file
	Key                string // etcd.tls.key: client key file
	InsecureSkipVerify bool   // etcd.tls.insecure_skip_verify
}

// RPCTLS is TLS on the gRPC API that masters serve to clients, chunkservers
// and each other (keys tls.*). Each pair is set together or not at all. A
// process serves TLS when Cert is set, and dials masters and chunkservers
// over TLS when any of CA, ClientCert or Cert is set (so the members of a
// TLS cluster also dial each other with it). Only file names live here; the
// files are read by package tlsconfig when the process starts.
type RPCTLS struct {
	Cert     string // tls.cert: this process's server certificate file
	Key      string // tls.key: its key file
	ClientCA string // tls.client_ca: if set, clients must present a certificate that chains to it

	CA         string // tls.ca: CA bundle that verifies servers (empty: system roots)
	ClientCert string // tls.client_cert: certificate file presented when dialing
	ClientKey  string // tls.client_key: its key file
	ServerName string // tls.server_name: name verified in server certificates instead of the dialed host
}

// Enabled reports whether this process dials masters and chunkservers over TLS.
func (t RPCTLS) Enabled() bool {
	return t.CA != "" || t.ClientCert != "" || t.Cert != ""
}

// Election is the leader election (keys election.*).
type Election struct {
	// LeaseTTL (election.lease_ttl) is the TTL of the session lease: how long
	// a dead primary keeps leadership. Whole seconds, 2s..5m.
	LeaseTTL time.Duration
	// CrashDetect (election.crash_detect) is how long the primary's RPC
	// address must actively refuse connections (refused or reset, never a
	// timeout) before the most caught-up standby revokes its lease; 0 off.
	CrashDetect time.Duration
}

// WAL is the write-ahead log in etcd (keys wal.*).
type WAL struct {
	MaxBatchBytes int           // wal.max_batch_bytes: group commit batch limit, 4096..1400000
	CommitTimeout time.Duration // wal.commit_timeout: bound on one batch's etcd commit
	TrimInterval  time.Duration // wal.trim_interval: how often the primary trims the log
}

// Checkpoint is when checkpoints are written (keys checkpoint.*).
type Checkpoint struct {
	Entries  int           // checkpoint.entries: applied entries between checkpoints
	Interval time.Duration // checkpoint.interval: how often to check
	Keep     int           // checkpoint.keep: checkpoints kept on disk
}

// Chunk is the chunk placement policy (keys chunk.*).
type Chunk struct {
	Replication int           // chunk.replication: replicas per chunk, 1..16
	Size        int64         // chunk.size: largest chunk in bytes
	Lease       time.Duration // chunk.lease: chunk lease duration
	DeadAfter   time.Duration // chunk.dead_after: silence before a chunkserver is dead
}

// Read is how clients and ctl read (keys read.*).
type Read struct {
	Consistency string        // read.consistency: linearizable, session or stale
	From        string        // read.from: any, primary or shadow
	MaxLag      time.Duration // read.max_lag: a stale read's bound on the answer's age
}

// Log is the process log (keys log.*).
type Log struct {
	Level  string // log.level: debug, info, warn or error
	Format string // log.format: text or json
}

// Tags are this member's candidacy (keys tags.*), as Patroni's tags.
type Tags struct {
	NoFailover       bool // tags.nofailover: replay and serve reads, never campaign
	FailoverPriority int  // tags.failover_priority: among caught-up candidates the highest leads
}

// HTTPTLS is TLS on the HTTP endpoints (keys http.tls.*): its own pair, or
// the RPC server's with RPCKeys. Files are reloaded when they change.
type HTTPTLS struct {
	Cert    string // http.tls.cert
	Key     string // http.tls.key
	RPCKeys bool   // http.tls.rpc_keys: use tls.cert and tls.key
}

// Hooks are commands run on events (keys hooks.*).
type Hooks struct {
	OnRoleChange string        // hooks.on_role_change: command run with ROLE NODE CLUSTER TOKEN
	Timeout      time.Duration // hooks.timeout: a hook still running after this is killed
}

// RequireNodeID reports an error wrapping ErrInvalid if NodeID is empty.
// Commands that run a master (serve) call it; others (ctl) do not need one.
func (c Config) RequireNodeID() error {
	if c.NodeID == "" {
		return &keyError{key: "node_id", msg: "empty; set it with --node-id, MASTER_NODE_ID or node_id in the config file"}
	}
	return nil
}

// Redacted returns a copy of c that is safe to log: a non-empty etcd
// password is replaced by "****". The copy shares nothing with c.
func (c Config) Redacted() Config {
	c.Etcd.Endpoints = slices.Clone(c.Etcd.Endpoints)
	if c.Etcd.Password != "" {
		c.Etcd.Password = "****"
	}
	return c
}

// Prefix returns the etcd key prefix of this cluster, "/gfsha/" + Cluster,
// without a trailing slash. Cluster names cannot contain "/", but one may be
// a prefix of another ("a" and "ab"), so append "/" before listing keys.
func (c Config) Prefix() string {
	return "/gfsha/" + c.Cluster
}

// defaultDataDir is data_dir's default once node_id is known.
func defaultDataDir(nodeID string) string {
	if nodeID == "" {
		nodeID = "default-node"
	}
	return filepath.Join("data", nodeID)
}
