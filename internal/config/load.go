package config

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// Load reads the configuration from, in order of precedence, the flags of
// fs the user set (fs may be nil), the MASTER_* environment, the config file
// and the defaults, and checks every value.
//
// The file is path when path is not empty (it must exist), else
// ./config.yaml when it exists. Unknown keys in the file are not errors: they
// come back as warnings, one line each, such as
//
//	config.yaml: unknown key "etcd.endpoint" (ignored); did you mean "etcd.endpoints"?
//
// Warnings are returned even with an error, since a misspelt key often
// explains a bad value. The error wraps ErrInvalid and lists every problem
// found, on one line.
func Load(path string, fs *pflag.FlagSet) (Config, []string, error) {
	f, err := readFile(path)
	if f == nil { // the file cannot be read or parsed
		return Config{}, nil, err
	}
	var errs []error
	if el, ok := err.(errorList); ok {
		errs = append(errs, el...)
	} else if err != nil {
		errs = append(errs, err)
	}

	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if err := v.MergeConfigMap(f.settings); err != nil {
		return Config{}, f.warnings, &fileError{path: f.path, msg: err.Error(), err: err}
	}
	for _, d := range keyDefs {
		if d.def != nil {
			v.SetDefault(d.name, d.def)
		}
		if fs == nil {
			continue
		}
		if fl := fs.Lookup(flagName(d.name)); fl != nil {
			if err := v.BindPFlag(d.name, fl); err != nil {
				return Config{}, f.warnings, &keyError{key: d.name, msg: err.Error()}
			}
		}
	}

	l := &loader{v: v, fs: fs, file: f, errs: errs}
	l.checkSectionEnv()
	c := l.build()
	if err := join(l.errs); err != nil {
		return Config{}, f.warnings, err
	}
	return c, f.warnings, nil
}

// loader takes each key out of the layered viper, typed and checked, and
// collects the problems.
type loader struct {
	v    *viper.Viper
	fs   *pflag.FlagSet
	file *configFile
	errs []error
}

// build fills a Config, key by key in the order of keyDefs.
func (l *loader) build() Config {
	var c Config
	c.Cluster = l.str("cluster")
	l.check("cluster", checkName(c.Cluster))
	c.NodeID = l.str("node_id")
	if c.NodeID != "" {
		l.check("node_id", checkName(c.NodeID))
	}
	c.Listen = l.str("listen")
	l.check("listen", checkListen(c.Listen, "127.0.0.1:7001"))
	c.HTTPListen = l.str("http_listen")
	if !l.check("http_listen", checkListen(c.HTTPListen, "127.0.0.1:8001")) && c.HTTPListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		l.check("http_listen", "same address as listen ("+c.Listen+")")
	}
	c.DataDir = defaultDataDir(c.NodeID)
	if l.v.IsSet("data_dir") {
		c.DataDir = l.str("data_dir")
		if c.DataDir == "" {
			l.check("data_dir", "empty (leave it out to use data/<node_id>)")
		}
	}

	c.Etcd.Endpoints = l.strs("etcd.endpoints")
	if len(c.Etcd.Endpoints) == 0 {
		l.check("etcd.endpoints", "empty")
	}
	for _, e := range c.Etcd.Endpoints {
		if l.check("etcd.endpoints", checkEndpoint(e)) {
			break
		}
	}
	c.Etcd.Embed = l.boolean("etcd.embed")
	c.Etcd.DialTimeout = l.duration("etcd.dial_timeout")
	l.check("etcd.dial_timeout", checkPositive(c.Etcd.DialTimeout))
	c.Etcd.Username = l.str("etcd.username")
	c.Etcd.Password = l.secret("etcd.password")
	if c.Etcd.Password != "" && c.Etcd.Username == "" {
		l.check("etcd.password", "set without etcd.username")
	}
	c.Etcd.TLS.CA = l.str("etcd.tls.ca")
	c.Etcd.TLS.Cert = l.str("etcd.tls.cert")
	c.Etcd.TLS.Key = l.str("etcd.tls.key")
	l.pair("etcd.tls.cert", c.Etcd.TLS.Cert, "etcd.tls.key", c.Etcd.TLS.Key)
	c.Etcd.TLS.InsecureSkipVerify = l.boolean("etcd.tls.insecure_skip_verify")
	c.Etcd.Compact = l.boolean("etcd.compact")

	c.TLS.Cert = l.str("tls.cert")
	c.TLS.Key = l.str("tls.key")
	l.pair("tls.cert", c.TLS.Cert, "tls.key", c.TLS.Key)
	c.TLS.ClientCA = l.str("tls.client_ca")
	if c.TLS.ClientCA != "" && c.TLS.Cert == "" {
		l.check("tls.client_ca", "set without tls.cert (only a TLS server can ask for client certificates; set tls.cert and tls.key too)")
	}
	c.TLS.CA = l.str("tls.ca")
	c.TLS.ClientCert = l.str("tls.client_cert")
	c.TLS.ClientKey = l.str("tls.client_key")
	l.pair("tls.client_cert", c.TLS.ClientCert, "tls.client_key", c.TLS.ClientKey)
	c.TLS.ServerName = l.str("tls.server_name")

	c.Election.LeaseTTL = l.duration("election.lease_ttl")
	l.check("election.lease_ttl", checkLeaseTTL(c.Election.LeaseTTL))
	c.Election.CrashDetect = l.duration("election.crash_detect")
	if c.Election.CrashDetect < 0 || c.Election.CrashDetect > time.Minute {
		l.check("election.crash_detect", "out of range: use 0 (off) up to 1m, e.g. 500ms")
	}

	c.WAL.MaxBatchBytes = l.integer("wal.max_batch_bytes")
	l.check("wal.max_batch_bytes", checkIntRange(c.WAL.MaxBatchBytes, 4096, 1400000))
	c.WAL.CommitTimeout = l.duration("wal.commit_timeout")
	l.check("wal.commit_timeout", checkPositive(c.WAL.CommitTimeout))
	c.WAL.TrimInterval = l.duration("wal.trim_interval")
	l.check("wal.trim_interval", checkPositive(c.WAL.TrimInterval))

	c.Checkpoint.Entries = l.integer("checkpoint.entries")
	l.check("checkpoint.entries", checkIntRange(c.Checkpoint.Entries, 1000, 1000000000))
	c.Checkpoint.Interval = l.duration("checkpoint.interval")
	l.check("checkpoint.interval", checkPositive(c.Checkpoint.Interval))
	c.Checkpoint.Keep = l.integer("checkpoint.keep")
	l.check("checkpoint.keep", checkIntRange(c.Checkpoint.Keep, 2, 100))

	c.Chunk.Replication = l.integer("chunk.replication")
	l.check("chunk.replication", checkIntRange(c.Chunk.Replication, 1, 16))
	if raw := l.str("chunk.size"); !l.failed("chunk.size") {
		n, problem := parseSize(raw)
		if !l.check("chunk.size", problem) {
			c.Chunk.Size = n
		}
	}
	c.Chunk.Lease = l.duration("chunk.lease")
	l.check("chunk.lease", checkPositive(c.Chunk.Lease))
	c.Chunk.DeadAfter = l.duration("chunk.dead_after")
	l.check("chunk.dead_after", checkPositive(c.Chunk.DeadAfter))

	c.Read.Consistency = l.str("read.consistency")
	l.check("read.consistency", checkOneOf(c.Read.Consistency, "linearizable", "session", "stale"))
	c.Read.From = l.str("read.from")
	l.check("read.from", checkOneOf(c.Read.From, "any", "primary", "shadow"))
	c.Read.MaxLag = l.duration("read.max_lag")
	l.check("read.max_lag", checkPositive(c.Read.MaxLag))

	c.Log.Level = strings.ToLower(l.str("log.level"))
	l.check("log.level", checkLogLevel(c.Log.Level))
	c.Log.Format = strings.ToLower(l.str("log.format"))
	if c.Log.Format != "text" && c.Log.Format != "json" {
		l.check("log.format", fmt.Sprintf("%q is not one of text, json", c.Log.Format))
	}

	c.Tags.NoFailover = l.boolean("tags.nofailover")
	c.Tags.FailoverPriority = l.integer("tags.failover_priority")
	l.check("tags.failover_priority", checkIntRange(c.Tags.FailoverPriority, 0, 1000))
	c.HTTPTLS.Cert = l.str("http.tls.cert")
	c.HTTPTLS.Key = l.str("http.tls.key")
	l.pair("http.tls.cert", c.HTTPTLS.Cert, "http.tls.key", c.HTTPTLS.Key)
	c.HTTPTLS.RPCKeys = l.boolean("http.tls.rpc_keys")
	if c.HTTPTLS.RPCKeys && c.TLS.Cert == "" {
		l.check("http.tls.rpc_keys", "set without tls.cert (set tls.cert and tls.key, or http.tls.cert and http.tls.key instead)")
	}
	c.Hooks.OnRoleChange = l.str("hooks.on_role_change")
	c.Hooks.Timeout = l.duration("hooks.timeout")
	l.check("hooks.timeout", checkPositive(c.Hooks.Timeout))
	return c
}

// raw returns key's value from the highest layer that has one. For a key
// without a default, viper falls back to the flag's default (the zero
// value, as Flags registers it); nil (no flag bound, or viper finds the
// key's section shadowed) means the default.
func (l *loader) raw(key string) any {
	if v := l.v.Get(key); v != nil {
		return v
	}
	d, _ := lookupKeyDef(key)
	return d.def
}

// failed reports whether key already has an error; later checks of a key
// that could not be read would only repeat it.
func (l *loader) failed(key string) bool {
	for _, err := range l.errs {
		if ke, ok := err.(*keyError); ok && ke.key == key {
			return true
		}
	}
	return false
}

// check records problem (if not "") against key and reports whether it did.
func (l *loader) check(key, problem string) bool {
	if problem == "" || l.failed(key) {
		return problem != ""
	}
	l.errs = append(l.errs, &keyError{key: key, msg: problem, source: l.source(key)})
	return true
}

func (l *loader) str(key string) string {
	v := l.raw(key)
	if v == nil {
		return ""
	}
	s, problem := asString(v)
	l.check(key, problem)
	return s
}

// secret is str for a key whose value must never be shown: a wrong type is
// reported without the value.
func (l *loader) secret(key string) string {
	v := l.raw(key)
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		l.check(key, "not a string (quote it; the value is not shown because it is secret)")
	}
	return s
}

// pair checks that two keys that go together (a certificate and its key)
// are set both or neither.
func (l *loader) pair(a, va, b, vb string) {
	switch {
	case va != "" && vb == "":
		l.check(b, "empty while "+a+" is set (set both or neither)")
	case vb != "" && va == "":
		l.check(a, "empty while "+b+" is set (set both or neither)")
	}
}

func (l *loader) boolean(key string) bool {
	b, problem := asBool(l.raw(key))
	l.check(key, problem)
	return b
}

func (l *loader) integer(key string) int {
	n, problem := asInt(l.raw(key))
	l.check(key, problem)
	return n
}

func (l *loader) duration(key string) time.Duration {
	d, problem := asDuration(l.raw(key))
	l.check(key, problem)
	return d
}

func (l *loader) strs(key string) []string {
	ss, problem := asStrings(l.raw(key))
	l.check(key, problem)
	return ss
}

// source says where key's value came from, mirroring viper's precedence:
// "by --listen", "by MASTER_LISTEN", "in config.yaml", or "" for the default.
func (l *loader) source(key string) string {
	if l.fs != nil {
		if fl := l.fs.Lookup(flagName(key)); fl != nil && fl.Changed {
			return "by --" + fl.Name
		}
	}
	if env := envName(key); os.Getenv(env) != "" {
		return "by " + env
	}
	if l.file.keys[key] {
		return "in " + l.file.path
	}
	return ""
}

// checkSectionEnv rejects an environment variable named after a section
// (MASTER_ETCD): viper would let it hide every key of the section, in the
// file and the defaults alike.
func (l *loader) checkSectionEnv() {
	for _, s := range sections {
		if env := envName(s); os.Getenv(env) != "" {
			l.errs = append(l.errs, &keyError{key: s, msg: "a group of keys, not a key, but " + env + " is set; unset it and set e.g. " + envName(firstKeyOf(s))})
		}
	}
}

func firstKeyOf(section string) string {
	for _, d := range keyDefs {
		if strings.HasPrefix(d.name, section+".") {
			return d.name
		}
	}
	return section
}
