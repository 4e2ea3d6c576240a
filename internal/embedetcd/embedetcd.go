package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Options tune the embedded member.
type Options struct {
	// Dir holds etcd's data. Required.
	Dir string
	// ClientAddr is host:port for clients; empty picks a free loopback port.
	ClientAddr string
	// NoFsync skips fsync (tests and benchmarks only: a crash loses data).
	NoFsync bool
	// StartTimeout bounds the wait for the member to serve; default 30s.
	StartTimeout time.Duration
}

// Server is a running embedded etcd member.
type Server struct {
	etcd     *embed.Etcd
	endpoint string
}

// Start starts a member and waits until it serves clients.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("embedetcd: Dir is empty")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(ctx, o)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if o.ClientAddr != "" || ctx.Err() != nil {
			break // a fixed address will not get better by retrying
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, o Options) (*Server, error) {
	clientAddr := o.ClientAddr
	if clientAddr == "" {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		clientAddr = a
	}
	peerAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	cu, err := url.Parse("http://" + clientAddr)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: client address %q: %w", clientAddr, err)
	}
	pu, _ := url.Parse("http://" + peerAddr)

	cfg := embed.NewConfig()
	cfg.Name = "embedded"
	cfg.Dir = o.Dir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.UnsafeNoFsync = o.NoFsync
	// One member has no peers to lose: a short election timeout only makes
	// its first (lone) election, and so its start, fast.
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedetcd: start on %s: %w", clientAddr, err)
	}
	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedetcd: %w", err)
	case <-t.C:
		e.Close()
		return nil, fmt.Errorf("embedetcd: not ready after %v", timeout)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return &Server{etcd: e, endpoint: clientAddr}, nil
}

// Endpoint is the host:port clients dial.
func (s *Server) Endpoint() string { return s.endpoint }

// Client returns a new client of this member; the caller closes it.
func (s *Server) Client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{s.endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// Close stops the member and waits for it. It is safe to call twice.
func (s *Server) Close() {
	s.etcd.Close()
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("embedetcd: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
