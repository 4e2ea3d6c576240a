package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/devcluster"
)

func newDev() *cobra.Command {
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a local cluster in one process: embedded etcd, two masters and three chunkservers, until Ctrl-C",
		Long: `Run a local cluster in one process: embedded etcd, two masters and three
chunkservers, until Ctrl-C. Its data (etcd, masters, chunkservers) lives in a
temporary directory removed at Ctrl-C, or under --data-dir DIR, kept and
reused when dev runs again with the same --data-dir. A configured port that
is busy (another dev running) is replaced by a free one, and dev says so.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			masters, _ := cmd.Flags().GetInt("masters")
			if masters < 1 || masters > 9 {
				return usageError{fmt.Errorf("--masters %d: use 1 to 9", masters)}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			log := newLogger(cfg.Log)
			// Only an explicit --data-dir keeps the data: data_dir's default
			// (data/<node_id>) is a server's, not a whole cluster's.
			dir := ""
			if f := cmd.Flag("data-dir"); f != nil && f.Changed {
				dir = cfg.DataDir
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return fmt.Errorf("dev: --data-dir %s: %v", dir, unwrapPath(err))
				}
			}
			dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: masters, Logger: log, Dir: dir})
			if err != nil {
				return err
			}
			defer dc.Close()
			if line := dc.BusyLine(); line != "" {
				fmt.Fprintln(os.Stderr, "master:", line)
			}
			dc.PrintBanner(os.Stdout)
			<-ctx.Done()
			fmt.Fprintln(os.Stderr, "master: dev: stopping")
			return nil
		},
	}
	c.Flags().Int("masters", 2, "number of masters to run")
	return c
}
