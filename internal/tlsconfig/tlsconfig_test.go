package tlsconfig

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/tlsconfig/tlstest"
)

func TestPlaintext(t *testing.T) {
	if c, err := Server(config.RPCTLS{}); c != nil || err != nil {
		t.Errorf("Server(none) = %v, %v; want nil, nil", c, err)
	}
	if o, err := ServerOptions(config.RPCTLS{}); o != nil || err != nil {
		t.Errorf("ServerOptions(none) = %v, %v; want nil, nil", o, err)
	}
	if c, err := Client(config.RPCTLS{ServerName: "m"}); c != nil || err != nil {
		t.Errorf("Client(server name only) = %v, %v; want nil, nil", c, err)
	}
	if o, err := ClientDialOption(config.RPCTLS{}); o == nil || err != nil {
		t.Errorf("ClientDialOption(none) = %v, %v; want insecure credentials", o, err)
	}
	if c, err := Etcd(config.TLS{}); c != nil || err != nil {
		t.Errorf("Etcd(none) = %v, %v; want nil, nil", c, err)
	}
}

// TestFileErrors: every unusable file is reported with its key and its
// name, wraps config.ErrInvalid, and never quotes a key file's contents.
func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	srv := ca.Server(t, "server")
	other := ca.Client(t, "other")
	expired := ca.Expired(t, "expired")
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(srv.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1] // a line of the key's base64

	server := func(t config.RPCTLS) error { _, err := Server(t); return err }
	client := func(t config.RPCTLS) error { _, err := Client(t); return err }
	tests := []struct {
		name     string
		build    func() error
		wantKey  string // the error starts with it
		wantPath string // and names this file
		notExist bool   // and wraps fs.ErrNotExist
	}{
		{"server cert missing", func() error { return server(config.RPCTLS{Cert: missing, Key: srv.Key}) }, "tls.cert", missing, true},
		{"server key missing", func() error { return server(config.RPCTLS{Cert: srv.Cert, Key: missing}) }, "tls.key", missing, true},
		{"server key of another certificate", func() error { return server(config.RPCTLS{Cert: srv.Cert, Key: other.Key}) }, "tls.cert and tls.key", other.Key, false},
		{"server cert not PEM", func() error { return server(config.RPCTLS{Cert: garbage, Key: srv.Key}) }, "tls.cert and tls.key", garbage, false},
		{"server cert expired", func() error { return server(config.RPCTLS{Cert: expired.Cert, Key: expired.Key}) }, "tls.cert", expired.Cert, false},
		{"client ca missing", func() error { return server(config.RPCTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: missing}) }, "tls.client_ca", missing, true},
		{"client ca not PEM", func() error { return server(config.RPCTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: garbage}) }, "tls.client_ca", garbage, false},
		{"client ca is a key", func() error { return server(config.RPCTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: srv.Key}) }, "tls.client_ca", srv.Key, false},
		{"ca missing", func() error { return client(config.RPCTLS{CA: missing}) }, "tls.ca", missing, true},
		{"ca not PEM", func() error { return client(config.RPCTLS{CA: garbage}) }, "tls.ca", garbage, false},
		{"client cert missing", func() error { return client(config.RPCTLS{CA: ca.CertFile, ClientCert: missing, ClientKey: other.Key}) }, "tls.client_cert", missing, true},
		{"client key of another certificate", func() error {
			return client(config.RPCTLS{CA: ca.CertFile, ClientCert: other.Cert, ClientKey: srv.Key})
		}, "tls.client_cert and tls.client_key", srv.Key, false},
		{"client key without cert", func() error { return client(config.RPCTLS{ClientKey: other.Key}) }, "tls.client_cert and tls.client_key", other.Key, false},
		{"dial option", func() error { _, err := ClientDialOption(config.RPCTLS{CA: missing}); return err }, "tls.ca", missing, true},
		{"server options", func() error { _, err := ServerOptions(config.RPCTLS{Cert: missing, Key: srv.Key}); return err }, "tls.cert", missing, true},
		{"etcd ca missing", func() error { _, err := Etcd(config.TLS{CA: missing}); return err }, "etcd.tls.ca", missing, true},
		{"etcd cert expired", func() error { _, err := Etcd(config.TLS{Cert: expired.Cert, Key: expired.Key}); return err }, "etcd.tls.cert", expired.Cert, false},
		{"etcd key missing", func() error { _, err := Etcd(config.TLS{Cert: other.Cert, Key: missing}); return err }, "etcd.tls.key", missing, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.build()
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("error = %v; want one wrapping config.ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantKey+": ") {
				t.Errorf("error = %q; want it to start with %q", msg, tt.wantKey+": ")
			}
			if !strings.Contains(msg, tt.wantPath) {
				t.Errorf("error = %q; want it to name %s", msg, tt.wantPath)
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(%q, fs.ErrNotExist) = %v; want %v", msg, got, tt.notExist)
			}
			if strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, keyBody) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q; want one line without key material", msg)
			}
		})
	}
}

// TestHandshake serves gRPC with ServerOptions and dials it with
// ClientDialOption: who gets in and who is refused.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	rogue := tlstest.NewCA(t, dir, "rogue")
	srv := ca.Server(t, "master")
	cli := ca.Client(t, "ctl")
	rogueCli := rogue.Client(t, "intruder")

	mutual := serve(t, config.RPCTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: ca.CertFile})
	oneWay := serve(t, config.RPCTLS{Cert: srv.Cert, Key: srv.Key})
	plain := serve(t, config.RPCTLS{})

	tests := []struct {
		name   string
		addr   string
		dial   config.RPCTLS
		wantOK bool
	}{
		{"client certificate", mutual, config.RPCTLS{CA: ca.CertFile, ClientCert: cli.Cert, ClientKey: cli.Key}, true},
		{"server certificate as client certificate (a peer)", mutual, config.RPCTLS{CA: ca.CertFile, Cert: srv.Cert, Key: srv.Key, ClientCert: srv.Cert, ClientKey: srv.Key}, true},
		{"server name verified", mutual, config.RPCTLS{CA: ca.CertFile, ClientCert: cli.Cert, ClientKey: cli.Key, ServerName: "localhost"}, true},
		{"no client certificate", mutual, config.RPCTLS{CA: ca.CertFile}, false},
		{"client certificate of another CA", mutual, config.RPCTLS{CA: ca.CertFile, ClientCert: rogueCli.Cert, ClientKey: rogueCli.Key}, false},
		{"plaintext to a TLS server", mutual, config.RPCTLS{}, false},
		{"server of an untrusted CA", mutual, config.RPCTLS{CA: rogue.CertFile, ClientCert: cli.Cert, ClientKey: cli.Key}, false},
		{"wrong server name", mutual, config.RPCTLS{CA: ca.CertFile, ClientCert: cli.Cert, ClientKey: cli.Key, ServerName: "master.example"}, false},
		{"one-way TLS without client certificate", oneWay, config.RPCTLS{CA: ca.CertFile}, true},
		{"one-way TLS from an untrusting client", oneWay, config.RPCTLS{CA: rogue.CertFile}, false},
		{"plaintext", plain, config.RPCTLS{}, true},
		{"TLS to a plaintext server", plain, config.RPCTLS{CA: ca.CertFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt, err := ClientDialOption(tt.dial)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := grpc.NewClient(tt.addr, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
			switch {
			case tt.wantOK && err != nil:
				t.Errorf("Check = %v; want success", err)
			case !tt.wantOK && status.Code(err) != codes.Unavailable:
				t.Errorf("Check = %v; want codes.Unavailable (refused in the handshake)", err)
			}
		})
	}
}

// serve runs a gRPC health server with TLS as t says, until the test ends.
func serve(tb testing.TB, t config.RPCTLS) string {
	tb.Helper()
	opts, err := ServerOptions(t)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(l) }()
	tb.Cleanup(func() { s.Stop(); <-done })
	return l.Addr().String()
}
