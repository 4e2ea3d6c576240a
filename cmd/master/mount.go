package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/fusefs"
	"github.com/gfsha/master/internal/server"
	"github.com/gfsha/master/internal/tlsconfig"
)

func newMount() *cobra.Command {
	c := &cobra.Command{
		Use:   "mount DIR",
		Short: "Serve the namespace as a FUSE file system at DIR until SIGINT/SIGTERM (needs fusermount3, Debian's fuse3)",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("usage: master mount DIR (got %d arguments)", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			rpcTLS, err := tlsconfig.Client(cfg.TLS)
			if err != nil {
				return err
			}
			probe, _ := cmd.Flags().GetDuration("timeout")
			debug, _ := cmd.Flags().GetBool("debug")
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			etcd, err := server.Dial(cfg)
			if err != nil {
				return err
			}
			defer etcd.Close()
			// A call waits through a failover, even one that must let a chunk
			// lease of the old primary run out (chunk.lease, 60 s by default).
			cl, err := client.New(ctx, client.Config{Etcd: etcd, Cluster: cfg.Cluster, TLS: rpcTLS,
				DefaultTimeout: 2*cfg.Chunk.Lease + 30*time.Second})
			if err != nil {
				return err
			}
			defer cl.Close()
			m, err := fusefs.New(ctx, cl, args[0], probe, fusefs.Options{Debug: debug, Log: log.New(os.Stderr, "master: mount: ", log.LstdFlags)})
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "master: cluster %q mounted at %s; Ctrl-C (SIGINT) or SIGTERM unmounts\n", cfg.Cluster, args[0])
			unmounted := make(chan struct{})
			go func() { m.Wait(); close(unmounted) }()
			select {
			case <-ctx.Done():
				if err := m.Unmount(); err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "master: unmounted %s\n", args[0])
			case <-unmounted: // fusermount3 -u from outside
				m.Unmount()
			}
			return nil
		},
	}
	c.Flags().Duration("timeout", 10*time.Second, "how long to wait for the cluster to answer before giving up")
	c.Flags().Bool("debug", false, "log every FUSE request")
	return c
}
