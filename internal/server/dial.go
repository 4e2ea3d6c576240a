package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/tlsconfig"
)

// Dial connects to the configured etcd cluster: etcd.tls.* for TLS,
// etcd.username and etcd.password for authentication.
//
// Without a user name it does not wait for etcd (the first request does).
// With one, etcd's client authenticates before it returns, so an etcd that
// stays unreachable for etcd.dial_timeout, or that refuses the credentials
// (an error wrapping rpctypes.ErrAuthFailed), fails it. A bad TLS file is an
// error wrapping config.ErrInvalid. No error holds the password.
func Dial(cfg config.Config) (*clientv3.Client, error) {
	tlsCfg, err := tlsconfig.Etcd(cfg.Etcd.TLS)
	if err != nil {
		return nil, err
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Etcd.Endpoints,
		DialTimeout: cfg.Etcd.DialTimeout,
		Username:    cfg.Etcd.Username,
		Password:    cfg.Etcd.Password,
		TLS:         tlsCfg,
		Logger:      zap.NewNop(),
	})
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return nil, fmt.Errorf("etcd at %v refused user %q (etcd.username): wrong password or no such user; check etcd.username and etcd.password (MASTER_ETCD_PASSWORD): %w",
			cfg.Etcd.Endpoints, cfg.Etcd.Username, err)
	case err != nil:
		return nil, fmt.Errorf("etcd.endpoints %v: %w", cfg.Etcd.Endpoints, err)
	}
	return c, nil
}

// DialRetrying is Dial, tried again (and logged each time) until it
// succeeds or ctx ends; a configuration error ends it at once. It is for
// processes that must keep running while etcd is down or refuses them: only
// a Dial with etcd.username set can fail for those reasons.
func DialRetrying(ctx context.Context, cfg config.Config, log *slog.Logger) (*clientv3.Client, error) {
	const first, most = 500 * time.Millisecond, 5 * time.Second
	wait := first
	for {
		c, err := Dial(cfg)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, config.ErrInvalid):
			return nil, err
		case errors.Is(err, rpctypes.ErrAuthFailed):
			log.Error("etcd authentication failed; retrying", "user", cfg.Etcd.Username, "in", wait, "err", err)
		default:
			log.Warn("etcd unreachable; retrying", "endpoints", cfg.Etcd.Endpoints, "in", wait, "err", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("etcd: gave up connecting: %w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, most)
	}
}

// rpcTLSMode says, for the log, how the RPC listener is secured.
func rpcTLSMode(t config.RPCTLS) string {
	switch {
	case t.Cert == "":
		return "off"
	case t.ClientCA == "":
		return "on"
	}
	return "on, client certificates required"
}
