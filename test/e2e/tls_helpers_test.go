package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/tlsconfig"
	"github.com/gfsha/master/internal/tlsconfig/tlstest"
)

// secureEtcd is an etcd process that speaks only TLS, asks every client for
// a certificate of the test's CA, and has authentication enabled; the
// masters, ctl and the client of a test reach it as etcd user etcdUser,
// whose role may read and write /gfsha/ and nothing else.
type secureEtcd struct {
	c      *Cluster
	CA     *tlstest.CA
	Server tlstest.Pair // etcd's and the masters' certificate (the masters also present it to each other)
	Client tlstest.Pair // the certificate of ctl and of the client package
	URL    string       // https://host:port

	rootPassword string
	Password     string // etcdUser's
	configFile   string // the masters' config file
}

const etcdUser = "gfsha"

// secret is a fresh password: a fixed prefix and random hex, so that a
// search of a log for it cannot match anything else.
func secret(t *testing.T, prefix string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + "-Pa55-" + hex.EncodeToString(b[:])
}

// startSecureEtcd writes the certificates, starts etcd with TLS and client
// certificate authentication, adds the users and enables authentication.
func startSecureEtcd(c *Cluster) *secureEtcd {
	t := c.t
	t.Helper()
	ca := tlstest.NewCA(t, c.Dir, "ca")
	s := &secureEtcd{
		c:            c,
		CA:           ca,
		Server:       ca.Server(t, "master"),
		Client:       ca.Client(t, "operator"), // no etcd user has this name
		rootPassword: secret(t, "root"),
		Password:     secret(t, "gfsha"),
	}
	addr, peer := freeAddr(t), freeAddr(t)
	c.EtcdEP, s.URL = addr, "https://"+addr
	c.Etcd = newProcess(c.Dir, "etcd", bins.etcd,
		"--name", "e1",
		"--data-dir", filepath.Join(c.Dir, "etcd.data"),
		"--listen-client-urls", s.URL,
		"--advertise-client-urls", s.URL,
		"--cert-file", s.Server.Cert,
		"--key-file", s.Server.Key,
		"--trusted-ca-file", ca.CertFile,
		"--client-cert-auth",
		"--listen-peer-urls", "http://"+peer,
		"--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "e1=http://"+peer,
		"--unsafe-no-fsync",
		// bcrypt's default cost makes each authentication take ~100 ms of CPU,
		// seconds on a loaded 2-core CI machine; the test checks that auth is
		// required, not that it is slow.
		"--bcrypt-cost", "4",
		"--log-level", "warn",
	)
	c.procs = append(c.procs, c.Etcd)
	c.Etcd.Start(t)

	tlsCfg, err := tlsconfig.Etcd(config.TLS{CA: ca.CertFile, Cert: s.Client.Cert, Key: s.Client.Key})
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	c.waitFor(30*time.Second, "etcd at "+s.URL+" healthy", func() bool {
		resp, err := hc.Get(s.URL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	hc.CloseIdleConnections()

	for _, args := range [][]string{
		{"user", "add", "root:" + s.rootPassword},
		{"role", "add", etcdUser},
		{"role", "grant-permission", etcdUser, "--prefix=true", "readwrite", "/gfsha/"},
		{"user", "add", etcdUser + ":" + s.Password},
		{"user", "grant-role", etcdUser, etcdUser},
		{"auth", "enable"},
	} {
		if r := s.etcdctl(args...); r.Code != 0 {
			t.Fatalf("etcdctl %s: %s", args[0]+" "+args[1], r)
		}
	}
	s.configFile = filepath.Join(c.Dir, "masters.yaml")
	s.writeConfig()
	return s
}

// etcdctl runs etcdctl against the secure etcd, as root once
// authentication is on.
func (s *secureEtcd) etcdctl(args ...string) cmdResult {
	s.c.t.Helper()
	base := []string{"--endpoints", s.URL, "--cacert", s.CA.CertFile, "--cert", s.Client.Cert, "--key", s.Client.Key,
		"--user", "root:" + s.rootPassword}
	return run(s.c.t, 30*time.Second, s.c.Dir, bins.etcdctl, append(base, args...)...)
}

// writeConfig writes the masters' config file: etcd over TLS as etcdUser
// (the password comes from MASTER_ETCD_PASSWORD), and RPC over TLS with
// client certificates required.
func (s *secureEtcd) writeConfig() {
	s.c.t.Helper()
	file := fmt.Sprintf(`cluster: default
etcd:
  endpoints: [%q]
  username: %s
  tls:
    ca: %q
    cert: %q
    key: %q
tls:
  cert: %q
  key: %q
  client_ca: %q
  ca: %q
  client_cert: %q
  client_key: %q
election:
  lease_ttl: %s
log:
  level: info
`, s.URL, etcdUser, s.CA.CertFile, s.Server.Cert, s.Server.Key,
		s.Server.Cert, s.Server.Key, s.CA.CertFile, s.CA.CertFile, s.Server.Cert, s.Server.Key, leaseTTL)
	if err := os.WriteFile(s.configFile, []byte(file), 0o600); err != nil {
		s.c.t.Fatal(err)
	}
}

// newMaster makes, without starting it, `master serve` as node id with the
// masters' config file and password as the environment gives it. The
// harness starts processes with its own environment, so env(1) sets the
// variable; its command line is in the harness's "=== e2e: start" lines of
// the log, which serverLog leaves out.
func (s *secureEtcd) newMaster(id, password string) *Master {
	c := s.c
	c.t.Helper()
	env, err := exec.LookPath("env")
	if err != nil {
		c.t.Fatalf("env(1): %v", err)
	}
	m := &Master{ID: id, RPC: freeAddr(c.t), HTTP: freeAddr(c.t)}
	m.Process = newProcess(c.Dir, id, env, "MASTER_ETCD_PASSWORD="+password, bins.master, "serve",
		"--config", s.configFile,
		"--node-id", id,
		"--listen", m.RPC,
		"--http-listen", m.HTTP,
		"--data-dir", filepath.Join(c.Dir, id+".data"),
	)
	c.procs = append(c.procs, m.Process)
	return m
}

// addMaster starts a master with the right password and waits until its
// HTTP endpoint answers.
func (s *secureEtcd) addMaster(id string) *Master {
	s.c.t.Helper()
	m := s.newMaster(id, s.Password)
	s.c.Masters = append(s.c.Masters, m)
	s.c.StartMaster(m)
	return m
}

// ctlFlags are the flags ctl needs for this etcd and the masters' RPC,
// with the client certificate when withCert.
func (s *secureEtcd) ctlFlags(withCert bool) []string {
	f := []string{"--etcd-endpoints", s.URL, "--etcd-username", etcdUser,
		"--etcd-tls-ca", s.CA.CertFile, "--etcd-tls-cert", s.Client.Cert, "--etcd-tls-key", s.Client.Key,
		"--tls-ca", s.CA.CertFile,
		// A loaded machine can take seconds for a TLS handshake and login;
		// the default 5 s probe is for people, not for CI.
		"--etcd-dial-timeout", "25s"}
	if withCert {
		f = append(f, "--tls-client-cert", s.Client.Cert, "--tls-client-key", s.Client.Key)
	}
	return f
}

// ctl runs `master ctl ARGS` with the TLS flags and the password in
// MASTER_ETCD_PASSWORD.
func (s *secureEtcd) ctl(password string, withCert bool, args ...string) cmdResult {
	s.c.t.Helper()
	args = append(append([]string{"ctl"}, args...), s.ctlFlags(withCert)...)
	return runEnv(s.c.t, 30*time.Second, s.c.Dir, []string{"MASTER_ETCD_PASSWORD=" + password}, bins.master, args...)
}

// newClient is a client of the public package configured for TLS to etcd
// and, with tlsCfg, to the masters; closed when the test ends.
func (s *secureEtcd) newClient(rpc config.RPCTLS) *client.Client {
	t := s.c.t
	t.Helper()
	etcdTLS, err := tlsconfig.Etcd(config.TLS{CA: s.CA.CertFile, Cert: s.Client.Cert, Key: s.Client.Key})
	if err != nil {
		t.Fatal(err)
	}
	rpcTLS, err := tlsconfig.Client(rpc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Endpoints: []string{s.URL}, Cluster: "default", DialTimeout: 25 * time.Second,
		EtcdTLS: etcdTLS, EtcdUsername: etcdUser, EtcdPassword: s.Password, TLS: rpcTLS})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// serverLog is what p itself wrote to stderr: the harness's own
// "=== e2e: start" lines, which hold its command line, left out.
func serverLog(p *Process) string {
	var out []string
	for _, line := range strings.Split(p.Stderr(), "\n") {
		if !strings.HasPrefix(line, "=== e2e: start ") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
