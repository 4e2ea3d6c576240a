package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func defaults() Config {
	var c Config
	c.Cluster = "default"
	c.Listen = "127.0.0.1:7001"
	c.HTTPListen = "127.0.0.1:8001"
	c.DataDir = filepath.Join("data", "default-node")
	c.Etcd.Endpoints = []string{"127.0.0.1:2379"}
	c.Etcd.DialTimeout = 5 * time.Second
	c.Election.LeaseTTL = 10 * time.Second
	c.Election.CrashDetect = 500 * time.Millisecond
	c.WAL.MaxBatchBytes = 1048576
	c.WAL.CommitTimeout = 5 * time.Second
	c.WAL.TrimInterval = 5 * time.Second
	c.Checkpoint.Entries = 1000000
	c.Checkpoint.Interval = 10 * time.Second
	c.Checkpoint.Keep = 2
	c.Chunk.Replication = 3
	c.Chunk.Size = 64 << 20
	c.Chunk.Lease = 60 * time.Second
	c.Chunk.DeadAfter = 3 * time.Second
	c.Read = Read{Consistency: "linearizable", From: "any", MaxLag: 5 * time.Second}
	c.Log.Level = "info"
	c.Log.Format = "text"
	c.Tags.FailoverPriority = 1
	c.Hooks.Timeout = 30 * time.Second
	return c
}

const allKeysFile = `
cluster: prod-1
node_id: m2
listen: 10.0.0.2:7101
http_listen: ":8101"
data_dir: /var/lib/gfsha
etcd:
  endpoints: [10.0.0.1:2379, "https://etcd-2.example:2379"]
  embed: true
  dial_timeout: 2s
  username: master
  password: hunter2
  tls:
    ca: ca.pem
    cert: cert.pem
    key: key.pem
    insecure_skip_verify: true
  compact: true
tls:
  cert: master.pem
  key: master-key.pem
  client_ca: clients-ca.pem
  ca: masters-ca.pem
  client_cert: peer.pem
  client_key: peer-key.pem
  server_name: master.internal
election:
  lease_ttl: 15s
  crash_detect: 0s
wal:
  max_batch_bytes: 65536
  commit_timeout: 3s
  trim_interval: 2s
checkpoint:
  entries: 5000
  interval: 1s
  keep: 3
chunk:
  replication: 2
  size: 16MiB
  lease: 30s
  dead_after: 5s
read:
  consistency: session
  from: shadow
  max_lag: 2s
log:
  level: DEBUG
  format: JSON
tags:
  nofailover: true
  failover_priority: 7
hooks:
  on_role_change: /bin/hook
  timeout: 4s
`

func allKeysConfig() Config {
	var c Config
	c.Cluster = "prod-1"
	c.NodeID = "m2"
	c.Listen = "10.0.0.2:7101"
	c.HTTPListen = ":8101"
	c.DataDir = "/var/lib/gfsha"
	c.Etcd.Endpoints = []string{"10.0.0.1:2379", "https://etcd-2.example:2379"}
	c.Etcd.Embed = true
	c.Etcd.DialTimeout = 2 * time.Second
	c.Etcd.Username = "master"
	c.Etcd.Password = "hunter2"
	c.Etcd.TLS.CA = "ca.pem"
	c.Etcd.TLS.Cert = "cert.pem"
	c.Etcd.TLS.Key = "key.pem"
	c.Etcd.TLS.InsecureSkipVerify = true
	c.TLS = RPCTLS{Cert: "master.pem", Key: "master-key.pem", ClientCA: "clients-ca.pem",
		CA: "masters-ca.pem", ClientCert: "peer.pem", ClientKey: "peer-key.pem", ServerName: "master.internal"}
	c.Election.LeaseTTL = 15 * time.Second
	c.Election.CrashDetect = 0
	c.WAL.MaxBatchBytes = 65536
	c.WAL.CommitTimeout = 3 * time.Second
	c.WAL.TrimInterval = 2 * time.Second
	c.Etcd.Compact = true
	c.Checkpoint.Entries = 5000
	c.Checkpoint.Interval = time.Second
	c.Checkpoint.Keep = 3
	c.Chunk.Replication = 2
	c.Chunk.Size = 16 << 20
	c.Chunk.Lease = 30 * time.Second
	c.Chunk.DeadAfter = 5 * time.Second
	c.Read = Read{Consistency: "session", From: "shadow", MaxLag: 2 * time.Second}
	c.Log.Level = "debug"
	c.Log.Format = "json"
	c.Tags = Tags{NoFailover: true, FailoverPriority: 7}
	c.Hooks = Hooks{OnRoleChange: "/bin/hook", Timeout: 4 * time.Second}
	return c
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		setup setup
		want  func(c *Config) // edits defaults() into the wanted Config
	}{
		{"defaults", setup{}, func(c *Config) {}},
		{"empty file", setup{file: yamlFile("")}, func(c *Config) {}},
		{"comments only", setup{file: yamlFile("# nothing\n")}, func(c *Config) {}},
		{"empty sections", setup{file: yamlFile("etcd:\n  # endpoints: [x:1]\nlog:\n")}, func(c *Config) {}},
		{"file values", setup{file: yamlFile(allKeysFile)}, func(c *Config) { *c = allKeysConfig() }},
		{"dotted keys in file", setup{file: yamlFile("etcd.dial_timeout: 7s\n\"election.lease_ttl\": 3s\n")}, func(c *Config) {
			c.Etcd.DialTimeout = 7 * time.Second
			c.Election.LeaseTTL = 3 * time.Second
		}},
		{"keys are case-insensitive", setup{file: yamlFile("Cluster: c\nETCD:\n  Dial_Timeout: 7s\n")}, func(c *Config) {
			c.Cluster = "c"
			c.Etcd.DialTimeout = 7 * time.Second
		}},
		{"quoted numbers and bools in file", setup{file: yamlFile("wal:\n  max_batch_bytes: \"8192\"\netcd:\n  embed: \"true\"\n")}, func(c *Config) {
			c.WAL.MaxBatchBytes = 8192
			c.Etcd.Embed = true
		}},
		{"env overrides file", setup{
			file: yamlFile("listen: 127.0.0.1:1\nwal:\n  max_batch_bytes: 8192\n"),
			env:  map[string]string{"MASTER_LISTEN": "127.0.0.1:2", "MASTER_WAL_MAX_BATCH_BYTES": "9000"},
		}, func(c *Config) {
			c.Listen = "127.0.0.1:2"
			c.WAL.MaxBatchBytes = 9000
		}},
		{"flag overrides env", setup{
			file: yamlFile("listen: 127.0.0.1:1\n"),
			env:  map[string]string{"MASTER_LISTEN": "127.0.0.1:2", "MASTER_ELECTION_LEASE_TTL": "20s"},
			args: []string{"--listen", "127.0.0.1:3", "--election-lease-ttl=30s"},
		}, func(c *Config) {
			c.Listen = "127.0.0.1:3"
			c.Election.LeaseTTL = 30 * time.Second
		}},
		{"unset flag does not override env", setup{
			env:  map[string]string{"MASTER_CHUNK_REPLICATION": "5"},
			args: []string{"--listen", "127.0.0.1:3"},
		}, func(c *Config) {
			c.Listen = "127.0.0.1:3"
			c.Chunk.Replication = 5
		}},
		{"unset flag does not override file", setup{
			file: yamlFile("etcd:\n  embed: true\n"),
		}, func(c *Config) { c.Etcd.Embed = true }},
		{"empty env is unset", setup{
			file: yamlFile("listen: 127.0.0.1:1\n"),
			env:  map[string]string{"MASTER_LISTEN": ""},
		}, func(c *Config) { c.Listen = "127.0.0.1:1" }},
		{"comma-separated endpoints from env", setup{
			file: yamlFile("etcd:\n  endpoints: [a:1]\n"),
			env:  map[string]string{"MASTER_ETCD_ENDPOINTS": "10.0.0.1:2379, 10.0.0.2:2379,http://10.0.0.3:2379"},
		}, func(c *Config) {
			c.Etcd.Endpoints = []string{"10.0.0.1:2379", "10.0.0.2:2379", "http://10.0.0.3:2379"}
		}},
		{"comma-separated endpoints from file", setup{file: yamlFile("etcd:\n  endpoints: a:1,b:2\n")}, func(c *Config) {
			c.Etcd.Endpoints = []string{"a:1", "b:2"}
		}},
		{"endpoints from flag", setup{
			env:  map[string]string{"MASTER_ETCD_ENDPOINTS": "a:1"},
			args: []string{"--etcd-endpoints=b:2,c:3"},
		}, func(c *Config) { c.Etcd.Endpoints = []string{"b:2", "c:3"} }},
		{"bool flag without value", setup{args: []string{"--etcd-embed"}}, func(c *Config) { c.Etcd.Embed = true }},
		{"bool env", setup{env: map[string]string{"MASTER_ETCD_TLS_INSECURE_SKIP_VERIFY": "1"}}, func(c *Config) {
			c.Etcd.TLS.InsecureSkipVerify = true
		}},
		{"rpc tls from flags", setup{args: []string{"--tls-ca", "ca.pem", "--tls-client-cert", "c.pem", "--tls-client-key", "k.pem"}}, func(c *Config) {
			c.TLS = RPCTLS{CA: "ca.pem", ClientCert: "c.pem", ClientKey: "k.pem"}
		}},
		{"rpc tls from env", setup{env: map[string]string{"MASTER_TLS_CERT": "s.pem", "MASTER_TLS_KEY": "s-key.pem", "MASTER_TLS_CLIENT_CA": "ca.pem"}}, func(c *Config) {
			c.TLS = RPCTLS{Cert: "s.pem", Key: "s-key.pem", ClientCA: "ca.pem"}
		}},
		{"bool flag false overrides file", setup{file: yamlFile("etcd:\n  embed: true\n"), args: []string{"--etcd-embed=false"}}, func(c *Config) {}},
		{"data_dir default uses node_id from file", setup{file: yamlFile("node_id: n7\n")}, func(c *Config) {
			c.NodeID = "n7"
			c.DataDir = filepath.Join("data", "n7")
		}},
		{"data_dir default uses node_id from flag", setup{file: yamlFile("node_id: n7\n"), args: []string{"--node-id", "n8"}}, func(c *Config) {
			c.NodeID = "n8"
			c.DataDir = filepath.Join("data", "n8")
		}},
		{"data_dir set overrides default", setup{env: map[string]string{"MASTER_NODE_ID": "n7", "MASTER_DATA_DIR": "/d"}}, func(c *Config) {
			c.NodeID = "n7"
			c.DataDir = "/d"
		}},
		{"port 0 listens anywhere", setup{args: []string{"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}}, func(c *Config) {
			c.Listen = "127.0.0.1:0"
			c.HTTPListen = "127.0.0.1:0"
		}},
		{"bounds are inclusive", setup{file: yamlFile("election: {lease_ttl: 2s}\nwal: {max_batch_bytes: 1400000}\nchunk: {replication: 16}\n")}, func(c *Config) {
			c.Election.LeaseTTL = 2 * time.Second
			c.WAL.MaxBatchBytes = 1400000
			c.Chunk.Replication = 16
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := load(t, tt.setup)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(warnings) != 0 {
				t.Errorf("Load warnings = %q; want none", warnings)
			}
			want := defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	f := yamlFile
	env := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		setup   setup
		wantKey string
	}{
		{"cluster list", setup{file: f("cluster: [a]\n")}, "cluster"},
		{"cluster number", setup{file: f("cluster: 7\n")}, "cluster"},
		{"cluster empty", setup{file: f("cluster: \"\"\n")}, "cluster"},
		{"cluster slash", setup{env: env("MASTER_CLUSTER", "a/b")}, "cluster"},
		{"cluster leading dot", setup{file: f("cluster: .x\n")}, "cluster"},
		{"cluster too long", setup{file: f("cluster: " + strings.Repeat("a", 64) + "\n")}, "cluster"},
		{"node_id mapping", setup{file: f("node_id: {a: 1}\n")}, "node_id"},
		{"node_id space", setup{args: []string{"--node-id", "n 1"}}, "node_id"},
		{"listen no port", setup{file: f("listen: \"7001\"\n")}, "listen"},
		{"listen bad port", setup{env: env("MASTER_LISTEN", "127.0.0.1:70000")}, "listen"},
		{"listen bool", setup{file: f("listen: true\n")}, "listen"},
		{"http_listen no port", setup{args: []string{"--http-listen", "localhost"}}, "http_listen"},
		{"http_listen same as listen", setup{file: f("listen: 127.0.0.1:9\nhttp_listen: 127.0.0.1:9\n")}, "http_listen"},
		{"data_dir empty", setup{file: f("data_dir: \"\"\n")}, "data_dir"},
		{"data_dir list", setup{file: f("data_dir: [a]\n")}, "data_dir"},
		{"endpoints number", setup{file: f("etcd:\n  endpoints: 5\n")}, "etcd.endpoints"},
		{"endpoints empty list", setup{file: f("etcd:\n  endpoints: []\n")}, "etcd.endpoints"},
		{"endpoints list of numbers", setup{file: f("etcd:\n  endpoints: [1, 2]\n")}, "etcd.endpoints"},
		{"endpoints mapping", setup{file: f("etcd:\n  endpoints: {a: 1}\n")}, "etcd.endpoints"},
		{"endpoints empty item", setup{env: env("MASTER_ETCD_ENDPOINTS", "a:1,,b:2")}, "etcd.endpoints"},
		{"endpoints no port", setup{env: env("MASTER_ETCD_ENDPOINTS", "localhost")}, "etcd.endpoints"},
		{"endpoints bad scheme", setup{file: f("etcd:\n  endpoints: [\"ftp://a:1\"]\n")}, "etcd.endpoints"},
		{"endpoints url without port", setup{args: []string{"--etcd-endpoints", "http://a"}}, "etcd.endpoints"},
		{"embed maybe", setup{file: f("etcd:\n  embed: maybe\n")}, "etcd.embed"},
		{"embed number", setup{file: f("etcd:\n  embed: 2\n")}, "etcd.embed"},
		{"embed env", setup{env: env("MASTER_ETCD_EMBED", "yes")}, "etcd.embed"},
		{"dial_timeout no unit", setup{file: f("etcd:\n  dial_timeout: 5\n")}, "etcd.dial_timeout"},
		{"dial_timeout zero", setup{env: env("MASTER_ETCD_DIAL_TIMEOUT", "0s")}, "etcd.dial_timeout"},
		{"username number", setup{file: f("etcd:\n  username: 12\n")}, "etcd.username"},
		{"password number", setup{file: f("etcd:\n  username: u\n  password: 12345\n")}, "etcd.password"},
		{"password without username", setup{env: env("MASTER_ETCD_PASSWORD", "p")}, "etcd.password"},
		{"tls ca list", setup{file: f("etcd:\n  tls:\n    ca: [a]\n")}, "etcd.tls.ca"},
		{"tls cert without key", setup{file: f("etcd:\n  tls:\n    cert: c.pem\n")}, "etcd.tls.key"},
		{"tls key without cert", setup{env: env("MASTER_ETCD_TLS_KEY", "k.pem")}, "etcd.tls.cert"},
		{"tls cert bool", setup{file: f("etcd:\n  tls:\n    cert: true\n")}, "etcd.tls.cert"},
		{"tls key number", setup{file: f("etcd:\n  tls:\n    key: 1\n")}, "etcd.tls.key"},
		{"insecure_skip_verify string", setup{file: f("etcd:\n  tls:\n    insecure_skip_verify: sure\n")}, "etcd.tls.insecure_skip_verify"},
		{"rpc tls cert without key", setup{file: f("tls:\n  cert: s.pem\n")}, "tls.key"},
		{"rpc tls key without cert", setup{args: []string{"--tls-key", "k.pem"}}, "tls.cert"},
		{"rpc tls client cert without key", setup{env: env("MASTER_TLS_CLIENT_CERT", "c.pem")}, "tls.client_key"},
		{"rpc tls client key without cert", setup{file: f("tls:\n  client_key: k.pem\n")}, "tls.client_cert"},
		{"rpc tls client ca without cert", setup{file: f("tls:\n  client_ca: ca.pem\n")}, "tls.client_ca"},
		{"rpc tls ca list", setup{file: f("tls:\n  ca: [a, b]\n")}, "tls.ca"},
		{"rpc tls section scalar", setup{file: f("tls: on\n")}, "tls"},
		{"rpc tls section env", setup{env: env("MASTER_TLS", "1")}, "tls"},
		{"lease_ttl word", setup{file: f("election:\n  lease_ttl: ten\n")}, "election.lease_ttl"},
		{"lease_ttl list", setup{file: f("election:\n  lease_ttl: [1, 2]\n")}, "election.lease_ttl"},
		{"lease_ttl env", setup{env: env("MASTER_ELECTION_LEASE_TTL", "ten")}, "election.lease_ttl"},
		{"lease_ttl too short", setup{args: []string{"--election-lease-ttl", "1s"}}, "election.lease_ttl"},
		{"lease_ttl too long", setup{file: f("election:\n  lease_ttl: 6m\n")}, "election.lease_ttl"},
		{"lease_ttl fraction", setup{file: f("election:\n  lease_ttl: 2500ms\n")}, "election.lease_ttl"},
		{"crash_detect negative", setup{args: []string{"--election-crash-detect", "-1s"}}, "election.crash_detect"},
		{"crash_detect word", setup{env: env("MASTER_ELECTION_CRASH_DETECT", "soon")}, "election.crash_detect"},
		{"max_batch_bytes too small", setup{file: f("wal:\n  max_batch_bytes: 99\n")}, "wal.max_batch_bytes"},
		{"max_batch_bytes too large", setup{env: env("MASTER_WAL_MAX_BATCH_BYTES", "1500000")}, "wal.max_batch_bytes"},
		{"max_batch_bytes float", setup{file: f("wal:\n  max_batch_bytes: 4096.5\n")}, "wal.max_batch_bytes"},
		{"max_batch_bytes word", setup{env: env("MASTER_WAL_MAX_BATCH_BYTES", "1MiB")}, "wal.max_batch_bytes"},
		{"max_batch_bytes huge", setup{file: f("wal:\n  max_batch_bytes: 18446744073709551615\n")}, "wal.max_batch_bytes"},
		{"commit_timeout negative", setup{file: f("wal:\n  commit_timeout: -1s\n")}, "wal.commit_timeout"},
		{"commit_timeout bool", setup{file: f("wal:\n  commit_timeout: true\n")}, "wal.commit_timeout"},
		{"replication zero", setup{file: f("chunk:\n  replication: 0\n")}, "chunk.replication"},
		{"replication 17", setup{args: []string{"--chunk-replication", "17"}}, "chunk.replication"},
		{"replication string", setup{file: f("chunk:\n  replication: three\n")}, "chunk.replication"},
		{"log level unknown", setup{file: f("log:\n  level: verbose\n")}, "log.level"},
		{"log level number", setup{file: f("log:\n  level: 1\n")}, "log.level"},
		{"section scalar", setup{file: f("etcd: 5\n")}, "etcd"},
		{"section list", setup{file: f("election: [10s]\n")}, "election"},
		{"nested section scalar", setup{file: f("etcd:\n  tls: yes\n")}, "etcd.tls"},
		{"section env", setup{env: env("MASTER_ETCD", "x")}, "etcd"},
		{"key twice by case", setup{file: f("cluster: a\nCluster: b\n")}, "cluster"},
		{"key twice dotted and nested", setup{file: f("etcd.embed: true\netcd:\n  embed: false\n")}, "etcd.embed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.setup)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load error = %v; want one wrapping ErrInvalid", err)
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.wantKey+": ") {
				t.Errorf("Load error = %q; want it to start with %q", got, tt.wantKey+": ")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Load error = %q; want one line", err)
			}
		})
	}
}

// TestLoadErrorText pins a few messages users read.
// An endpoint with credentials is refused (exit 2) and its password is
// never echoed, whatever the form.
func TestEndpointCredentialsRefusedUnechoed(t *testing.T) {
	for _, ep := range []string{
		"http://alice:s3cr%40t@127.0.0.1:2379",
		"https://alice:s3cr@t@10.0.0.1:2379",
		"alice:s3cr@t@127.0.0.1:2379",
		"http://s3cr@t@127.0.0.1:2379/x?y",
		"127.0.0.1:2379,http://alice:s3cr/t@127.0.0.1:2380",
	} {
		for _, how := range []setup{
			{args: []string{"--etcd-endpoints", ep}},
			{env: map[string]string{"MASTER_ETCD_ENDPOINTS": ep}},
			{file: yamlFile("etcd:\n  endpoints: [\"" + strings.ReplaceAll(ep, ",", "\", \"") + "\"]\n")},
		} {
			_, _, err := load(t, how)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Load with endpoints %q = %v; want ErrInvalid", ep, err)
				continue
			}
			if msg := err.Error(); strings.Contains(msg, "s3cr") || strings.Contains(msg, "alice") || !strings.Contains(msg, "credentials") {
				t.Errorf("Load with endpoints %q: %q; want it to say credentials without showing them", ep, msg)
			}
		}
	}
}

func TestLoadErrorText(t *testing.T) {
	tests := []struct {
		name  string
		setup setup
		want  string
	}{
		{"duration from file", setup{file: yamlFile("election:\n  lease_ttl: ten\n")},
			`election.lease_ttl: "ten" is not a duration (use e.g. 10s); set in config.yaml`},
		{"duration list", setup{file: yamlFile("election:\n  lease_ttl: [1, 2]\n")},
			`election.lease_ttl: [1, 2] is not a duration (use e.g. 10s); set in config.yaml`},
		{"host:port from env", setup{env: map[string]string{"MASTER_LISTEN": "7001"}},
			`listen: "7001" is not host:port (use e.g. 127.0.0.1:7001); set by MASTER_LISTEN`},
		{"range from flag", setup{args: []string{"--wal-max-batch-bytes=99"}},
			`wal.max_batch_bytes: 99 out of range 4096..1400000; set by --wal-max-batch-bytes`},
		{"empty endpoints", setup{file: yamlFile("etcd: {endpoints: []}\n")},
			`etcd.endpoints: empty; set in config.yaml`},
		{"password of the wrong type is not shown", setup{file: yamlFile("etcd:\n  username: u\n  password: 271828\n")},
			`etcd.password: not a string (quote it; the value is not shown because it is secret); set in config.yaml`},
		{"client ca needs a server certificate", setup{args: []string{"--tls-client-ca", "ca.pem"}},
			`tls.client_ca: set without tls.cert (only a TLS server can ask for client certificates; set tls.cert and tls.key too); set by --tls-client-ca`},
		{"two problems on one line", setup{file: yamlFile("chunk: {replication: 0}\nlog: {level: loud}\n")},
			`chunk.replication: 0 out of range 1..16; set in config.yaml; log.level: "loud" is not one of debug, info, warn, error; set in config.yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.setup)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load error = %v; want %s", err, tt.want)
			}
		})
	}
}

func TestLoadUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"typo in nested key", "etcd:\n  endpoint: [a:1]\n",
			[]string{`config.yaml: unknown key "etcd.endpoint" (ignored); did you mean "etcd.endpoints"?`}},
		{"dash instead of underscore", "node-id: n1\n",
			[]string{`config.yaml: unknown key "node-id" (ignored); did you mean "node_id"?`}},
		{"key outside its section", "lease_ttl: 10s\n",
			[]string{`config.yaml: unknown key "lease_ttl" (ignored); did you mean "election.lease_ttl"?`}},
		{"misspelt section", "etc:\n  endpoints: [a:1]\n",
			[]string{`config.yaml: unknown key "etc.endpoints" (ignored); did you mean "etcd.endpoints"?`}},
		{"nothing close", "frobnicate: 1\n",
			[]string{`config.yaml: unknown key "frobnicate" (ignored)`}},
		{"several, sorted", "zz: 1\nlister: x\n",
			[]string{
				`config.yaml: unknown key "lister" (ignored); did you mean "listen"?`,
				`config.yaml: unknown key "zz" (ignored)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := load(t, setup{file: yamlFile(tt.file)})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(warnings, tt.want) {
				t.Errorf("Load warnings = %q; want %q", warnings, tt.want)
			}
			if want := defaults(); !reflect.DeepEqual(got, want) {
				t.Errorf("Load = %+v; want the defaults %+v", got, want)
			}
		})
	}
}

func TestLoadWarningsWithError(t *testing.T) {
	_, warnings, err := load(t, setup{file: yamlFile("chunk:\n  replication: 0\n  replicas: 3\n")})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Load error = %v; want ErrInvalid", err)
	}
	if len(warnings) != 1 {
		t.Errorf("Load warnings = %q; want one about chunk.replicas", warnings)
	}
}

func TestLoadMissingExplicitFile(t *testing.T) {
	clearEnv(t)
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, _, err := Load(path, nil)
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%q) error = %v; want ErrInvalid and fs.ErrNotExist", path, err)
	}
	if err == nil || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("Load(%q) error = %v; want it to start with the path", path, err)
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	_, _, err := Load(dir, nil) // a directory
	if !errors.Is(err, ErrInvalid) || err == nil || !strings.HasPrefix(err.Error(), dir+": ") {
		t.Errorf("Load(%q) error = %v; want ErrInvalid naming the path", dir, err)
	}
}

func TestLoadDefaultFile(t *testing.T) {
	clearEnv(t)
	t.Chdir(t.TempDir())
	got, warnings, err := Load("", nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Load with no ./config.yaml = %v, %q; want no error, no warnings", err, warnings)
	}
	if want := defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v; want %+v", got, want)
	}

	if err := os.WriteFile("config.yaml", []byte("cluster: from-cwd\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, warnings, err = Load("", nil)
	if err != nil {
		t.Fatalf("Load with ./config.yaml: %v", err)
	}
	if got.Cluster != "from-cwd" {
		t.Errorf("Load().Cluster = %q; want %q", got.Cluster, "from-cwd")
	}
	if want := []string{`config.yaml: unknown key "bogus" (ignored)`}; !reflect.DeepEqual(warnings, want) {
		t.Errorf("Load warnings = %q; want %q", warnings, want)
	}
}

var lineRE = regexp.MustCompile(`\bline [1-9][0-9]*\b`)

func TestLoadSyntaxError(t *testing.T) {
	tests := []struct {
		name string
		file string
	}{
		// yaml reports the line where the construct it could not finish
		// starts, not always the line of the mistake.
		{"bad indentation", "cluster: a\netcd:\n  endpoints: [a:1]\n   embed: true\n"},
		{"unclosed list", "cluster: a\nnode_id: b\netcd: {endpoints: [a:1\n"},
		{"tab indentation", "etcd:\n\tembed: true\n"},
		{"duplicate key", "cluster: a\ncluster: b\n"},
		{"duplicate keys", "cluster: a\ncluster: b\nlisten: x\nlisten: y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, setup{file: yamlFile(tt.file)})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Load error = %v; want ErrInvalid", err)
			}
			if got := err.Error(); !strings.HasPrefix(got, "config.yaml: ") || !lineRE.MatchString(got) {
				t.Errorf("Load error = %q; want it to name config.yaml and a line", got)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Load error = %q; want one line", err)
			}
		})
	}
}

func TestLoadTopLevelNotMapping(t *testing.T) {
	_, _, err := load(t, setup{file: yamlFile("- a\n- b\n")})
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "config.yaml: ") {
		t.Errorf("Load error = %v; want ErrInvalid naming config.yaml", err)
	}
}

// TestRepoConfig loads the repository's config.yaml: it must be a working
// configuration for serve, with every key and no warnings.
func TestRepoConfig(t *testing.T) {
	clearEnv(t)
	const path = "../../config.yaml"
	got, warnings, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	if len(warnings) != 0 {
		t.Errorf("Load(%q) warnings = %q; want none", path, warnings)
	}
	if err := got.RequireNodeID(); err != nil {
		t.Errorf("RequireNodeID() = %v; want nil", err)
	}
	want := defaults()
	want.NodeID = "n1"
	want.DataDir = "data/n1"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(%q) =\n%+v\nwant\n%+v", path, got, want)
	}

	f, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range keyDefs {
		if !f.keys[d.name] && d.def != nil {
			t.Errorf("%s does not set %s", path, d.name)
		}
	}
}

func TestLoadNilFlagSet(t *testing.T) {
	_, _, err := load(t, setup{})
	if err != nil {
		t.Fatal(err)
	}
	clearEnv(t)
	t.Setenv("MASTER_CLUSTER", "x")
	got, _, err := Load("", nil)
	if err != nil || got.Cluster != "x" {
		t.Errorf("Load(\"\", nil) = %q, %v; want cluster x from the environment", got.Cluster, err)
	}
}

func TestLoadForeignFlagSet(t *testing.T) {
	// A flag set with other flags, or a key's flag of another type.
	clearEnv(t)
	t.Chdir(t.TempDir())
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("config", "", "")
	fs.String("chunk-replication", "3", "")
	if err := fs.Parse([]string{"--chunk-replication", "x"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load("", fs)
	if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "chunk.replication: ") {
		t.Errorf("Load error = %v; want chunk.replication invalid", err)
	}
}

func TestFlagTypesShownAndParsedByLoad(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	Flags(fs)
	for name, want := range map[string]string{"chunk-replication": "integer", "election-lease-ttl": "duration", "cluster": "string"} {
		if got := fs.Lookup(name).Value.Type(); got != want {
			t.Errorf("--%s type = %q; want %q", name, got, want)
		}
	}
	if err := fs.Parse([]string{"--chunk-replication", "abc"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load("", fs)
	if err == nil || !strings.Contains(err.Error(), `"abc"`) {
		t.Errorf("Load(--chunk-replication abc) = %v; want an error quoting the value", err)
	}
}
