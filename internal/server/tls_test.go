package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/tlsconfig"
	"github.com/gfsha/master/internal/tlsconfig/tlstest"
)

// TestStartRPCTLS runs a master whose RPC requires client certificates:
// the client package with one gets in; without one, or in plaintext, the
// handshake refuses it.
func TestStartRPCTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	srv := ca.Server(t, "n1")
	cli := ca.Client(t, "ctl")

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	e, err := embedetcd.Start(ctx, embedetcd.Options{Dir: filepath.Join(dir, "etcd"), NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := masterConfig(dir, e.Endpoint())
	cfg.TLS = config.RPCTLS{Cert: srv.Cert, Key: srv.Key, ClientCA: ca.CertFile, CA: ca.CertFile, ClientCert: srv.Cert, ClientKey: srv.Key}
	s, err := Start(ctx, Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	select {
	case <-s.Node.Promoted():
	case <-ctx.Done():
		t.Fatal("n1 never served")
	}

	tlsCfg, err := tlsconfig.Client(config.RPCTLS{CA: ca.CertFile, ClientCert: cli.Cert, ClientKey: cli.Key})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(ctx, client.Config{Endpoints: []string{e.Endpoint()}, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Create(ctx, "/f"); err != nil {
		t.Fatalf("Create with a client certificate: %v", err)
	}

	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CA: %v", err)
	}
	refused := []struct {
		name string
		dial config.RPCTLS
	}{
		{"no client certificate", config.RPCTLS{CA: ca.CertFile}},
		{"plaintext", config.RPCTLS{}},
	}
	for _, tt := range refused {
		opt, err := tlsconfig.ClientDialOption(tt.dial)
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(s.RPCAddr(), opt)
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = masterpb.NewMasterClient(cc).Status(sctx, &masterpb.StatusRequest{})
		scancel()
		cc.Close()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: Status = %v; want codes.Unavailable", tt.name, err)
		}
	}
	// The client package without a certificate: every try is refused.
	bare, err := client.New(ctx, client.Config{Endpoints: []string{e.Endpoint()}, TLS: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	defer scancel()
	if _, err := bare.Stat(sctx, "/f"); err == nil {
		t.Errorf("Stat without a client certificate succeeded")
	}
}

// TestStartBadTLSFile: Start refuses at once, as a configuration error.
func TestStartBadTLSFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	cfg := masterConfig(dir, "127.0.0.1:1")
	cfg.TLS = config.RPCTLS{Cert: missing, Key: missing}
	_, err := Start(t.Context(), Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, config.ErrInvalid) || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "tls.cert: "+missing) {
		t.Errorf("Start with a missing tls.cert = %v; want config.ErrInvalid naming tls.cert and the file", err)
	}
}

func masterConfig(dir, etcdEndpoint string) config.Config {
	cfg := etcdConfig(etcdEndpoint, "", "")
	cfg.NodeID = "n1"
	cfg.Listen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DataDir = filepath.Join(dir, "n1")
	cfg.Election.LeaseTTL = 2 * time.Second
	cfg.WAL.MaxBatchBytes = 1 << 20
	cfg.WAL.CommitTimeout = 5 * time.Second
	cfg.WAL.TrimInterval = 5 * time.Second
	cfg.Checkpoint.Entries = 1000000
	cfg.Checkpoint.Interval = 10 * time.Second
	cfg.Checkpoint.Keep = 2
	cfg.Chunk.Replication = 1
	return cfg
}
