package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/server"
)

func newServe() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run one master: campaign, replay, and serve when the promotion gate opens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := cfg.RequireNodeID(); err != nil {
				return err
			}
			log := newLogger(cfg.Log)
			log.Info("config", "cluster", cfg.Cluster, "node_id", cfg.NodeID, "etcd", cfg.Etcd.Endpoints,
				"embed", cfg.Etcd.Embed, "lease_ttl", cfg.Election.LeaseTTL, "etcd_user", cfg.Redacted().Etcd.Username)
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			s, err := server.Start(ctx, server.Options{Config: cfg, Logger: log})
			if err != nil {
				if ctx.Err() != nil { // stopped while waiting for etcd to accept us
					log.Info("shutting down before etcd accepted this master", "err", err)
					return nil
				}
				return err
			}
			select {
			case <-ctx.Done():
				switch role := s.Node.Role(); role {
				case "primary", "catching-up":
					log.Info("shutting down: resigning so a standby takes over at once", "role", role)
				default:
					log.Info("shutting down", "role", role)
				}
			case <-s.Done(): // stopped on its own, e.g. a live twin with this node_id
			}
			s.Close()
			return s.Err()
		},
	}
}
