package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestRedacted(t *testing.T) {
	tests := []struct {
		password, want string
	}{
		{"hunter2", "****"},
		{"", ""},
	}
	for _, tt := range tests {
		c := allKeysConfig()
		c.Etcd.Password = tt.password
		got := c.Redacted()
		if got.Etcd.Password != tt.want {
			t.Errorf("Redacted() with password %q: Password = %q; want %q", tt.password, got.Etcd.Password, tt.want)
		}
		if c.Etcd.Password != tt.password {
			t.Errorf("Redacted() changed the original's password to %q", c.Etcd.Password)
		}
		got.Etcd.Endpoints[0] = "changed"
		if c.Etcd.Endpoints[0] == "changed" {
			t.Errorf("Redacted() shares Endpoints with the original")
		}
		got.Etcd.Endpoints[0], got.Etcd.Password = c.Etcd.Endpoints[0], c.Etcd.Password
		if !reflect.DeepEqual(got, c) {
			t.Errorf("Redacted() changed more than the password: %+v", got)
		}
	}
}

// TestPasswordNotPrinted: however a Config is printed or logged, the
// password does not show.
func TestPasswordNotPrinted(t *testing.T) {
	c := allKeysConfig()
	c.Etcd.Password = "s3cret-Pa55"
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", c, "etcd", c.Etcd)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c, "etcd", c.Etcd)
	outputs := map[string]string{
		"%v":      fmt.Sprintf("%v", c),
		"%+v":     fmt.Sprintf("%+v", c),
		"%s":      fmt.Sprintf("%s", c.Etcd),
		"Etcd %v": fmt.Sprintf("%v", c.Etcd),
		"slog":    logged.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, c.Etcd.Password) {
			t.Errorf("%s prints the password: %s", how, out)
		}
		if !strings.Contains(out, c.Etcd.Username) || !strings.Contains(out, "****") {
			t.Errorf("%s = %s; want the user name and **** for the password", how, out)
		}
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct{ cluster, want string }{
		{"default", "/gfsha/default"},
		{"prod-1", "/gfsha/prod-1"},
	}
	for _, tt := range tests {
		if got := (Config{Cluster: tt.cluster}).Prefix(); got != tt.want {
			t.Errorf("Config{Cluster: %q}.Prefix() = %q; want %q", tt.cluster, got, tt.want)
		}
	}
}

func TestRequireNodeID(t *testing.T) {
	if err := (Config{NodeID: "n1"}).RequireNodeID(); err != nil {
		t.Errorf("RequireNodeID() with n1 = %v; want nil", err)
	}
	err := Config{}.RequireNodeID()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("RequireNodeID() with none = %v; want ErrInvalid", err)
	}
	const want = "node_id: empty; set it with --node-id, MASTER_NODE_ID or node_id in the config file"
	if err.Error() != want {
		t.Errorf("RequireNodeID() = %q; want %q", err, want)
	}
}

func TestFlags(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Flags(fs)
	for _, d := range keyDefs {
		fl := fs.Lookup(flagName(d.name))
		if fl == nil {
			t.Errorf("no flag --%s for key %s", flagName(d.name), d.name)
			continue
		}
		if fl.Usage == "" {
			t.Errorf("flag --%s has no help", fl.Name)
		}
	}
	if got, want := fs.NFlag(), 0; got != want {
		t.Errorf("NFlag() = %d before parsing; want %d", got, want)
	}
	// Durations and numbers are parsed by Load, so its error names the key.
	if err := fs.Parse([]string{"--election-lease-ttl", "ten"}); err != nil {
		t.Fatalf("Parse(--election-lease-ttl ten) = %v; want Load to judge the value", err)
	}
	_, _, err := Load("", fs)
	if got, want := fmt.Sprint(err), `election.lease_ttl: "ten" is not a duration (use e.g. 10s); set by --election-lease-ttl`; got != want {
		t.Errorf("Load with --election-lease-ttl ten = %q; want %q", got, want)
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ key, flag, env string }{
		{"etcd.endpoints", "etcd-endpoints", "MASTER_ETCD_ENDPOINTS"},
		{"node_id", "node-id", "MASTER_NODE_ID"},
		{"etcd.tls.insecure_skip_verify", "etcd-tls-insecure-skip-verify", "MASTER_ETCD_TLS_INSECURE_SKIP_VERIFY"},
		{"tls.client_ca", "tls-client-ca", "MASTER_TLS_CLIENT_CA"},
	}
	for _, tt := range tests {
		if got := flagName(tt.key); got != tt.flag {
			t.Errorf("flagName(%q) = %q; want %q", tt.key, got, tt.flag)
		}
		if got := envName(tt.key); got != tt.env {
			t.Errorf("envName(%q) = %q; want %q", tt.key, got, tt.env)
		}
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ key, want string }{
		{"etcd.endpoint", "etcd.endpoints"},
		{"etcd.dial-timeout", "etcd.dial_timeout"},
		{"httplisten", "http_listen"},
		{"tls.insecure_skip_verify", "etcd.tls.insecure_skip_verify"},
		{"client_ca", "tls.client_ca"},
		{"replication", "chunk.replication"},
		{"clustr", "cluster"},
		{"foo", ""},
		{"etcd.endpointz.x", "etcd.endpoints"},
		{"frobnicate", ""},
		{"wal.size", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key); got != tt.want {
			t.Errorf("suggest(%q) = %q; want %q", tt.key, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"node-id", "node_id", 1},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRPCTLSEnabled(t *testing.T) {
	tests := []struct {
		name string
		tls  RPCTLS
		want bool
	}{
		{"none", RPCTLS{}, false},
		{"server name only", RPCTLS{ServerName: "m"}, false},
		{"ca", RPCTLS{CA: "ca.pem"}, true},
		{"client certificate", RPCTLS{ClientCert: "c.pem", ClientKey: "k.pem"}, true},
		{"server certificate: members dial each other with TLS", RPCTLS{Cert: "s.pem", Key: "k.pem"}, true},
	}
	for _, tt := range tests {
		if got := tt.tls.Enabled(); got != tt.want {
			t.Errorf("%s: %+v.Enabled() = %v; want %v", tt.name, tt.tls, got, tt.want)
		}
	}
}
