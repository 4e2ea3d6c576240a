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
		Short: "Run a local cluster in one process: embedded etcd and two masters, until Ctrl-C",
		Args:  cobra.NoArgs,
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
			dc, err := devcluster.Start(ctx, devcluster.Options{Base: cfg, Masters: masters, Logger: log})
			if err != nil {
				return err
			}
			defer dc.Close()
			dc.PrintBanner(os.Stdout)
			<-ctx.Done()
			fmt.Fprintln(os.Stderr, "master: dev: stopping")
			return nil
		},
	}
	c.Flags().Int("masters", 2, "number of masters to run")
	return c
}
