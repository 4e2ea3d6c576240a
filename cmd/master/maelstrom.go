package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/maelstrom"
)

func newMaelstrom() *cobra.Command {
	return &cobra.Command{
		Use:   "maelstrom",
		Short: "Speak the seed task's JSON-lines protocol on stdin/stdout, running the masters in-process over an embedded etcd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return maelstrom.Run(ctx, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}
