package main

import (
	"context"
	"fmt"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/gfsha/master/internal/chunkserver"
	"github.com/gfsha/master/internal/server"
	"github.com/gfsha/master/internal/tlsconfig"
)

func newChunkserver() *cobra.Command {
	c := &cobra.Command{
		Use:   "chunkserver --id ID --dir DIR --listen ADDR",
		Short: "Run one chunkserver: keep chunk replicas under DIR, heartbeat to the primary found through etcd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			id, _ := cmd.Flags().GetString("id")
			dir, _ := cmd.Flags().GetString("dir")
			listen, _ := cmd.Flags().GetString("listen")
			interval, _ := cmd.Flags().GetDuration("heartbeat-interval")
			if id == "" {
				return usageError{fmt.Errorf("chunkserver: --id is required (e.g. --id cs1)")}
			}
			if dir == "" {
				dir = filepath.Join("data", id)
			}
			if interval <= 0 || interval > time.Minute {
				return usageError{fmt.Errorf("--heartbeat-interval %v: use 10ms to 1m", interval)}
			}
			log := newLogger(cfg.Log)
			// The RPC's TLS (tls.*) as the masters have it: served, and
			// used to dial the primary and other chunkservers.
			serverOpts, err := tlsconfig.ServerOptions(cfg.TLS)
			if err != nil {
				return err
			}
			dial, err := tlsconfig.ClientDialOption(cfg.TLS)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			// Like serve: keep trying, with logs, while etcd is down or
			// refuses the credentials; the election watch then logs its own
			// retries.
			etcd, err := server.DialRetrying(ctx, cfg, log)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			defer etcd.Close()
			cs, err := chunkserver.Start(ctx, chunkserver.Config{ID: id, Dir: dir, Listen: listen, Etcd: etcd,
				Cluster: cfg.Cluster, HeartbeatInterval: interval, Logger: log,
				DialOptions: []grpc.DialOption{dial}, ServerOptions: serverOpts})
			if err != nil {
				return err
			}
			<-ctx.Done()
			log.Info("chunkserver stopping", "id", id)
			cs.Close()
			return nil
		},
	}
	// --listen shadows the master's persistent flag of the same name: a
	// chunkserver listens on its own address.
	c.Flags().String("listen", "127.0.0.1:7101", "gRPC address (host:port) for the master, clients and other chunkservers")
	c.Flags().String("id", "", "this chunkserver's id, unique in the cluster (required)")
	c.Flags().String("dir", "", "directory of this chunkserver's replicas, locked while it runs (default data/<id>)")
	c.Flags().Duration("heartbeat-interval", 500*time.Millisecond, "time between heartbeats to the primary")
	return c
}
