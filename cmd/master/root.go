package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gfsha/master/internal/config"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "master",
		Short:         "A GFS-style metadata master with etcd-coordinated failover",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "config file (default ./config.yaml if present)")
	config.Flags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	defer markUsageErrors(root)
	root.AddCommand(newServe(), newDev(), newCtl(), newMaelstrom(), newChunkserver(), newBench(), newMount())
	return root
}

// loadConfig loads the config for cmd, printing unknown-key warnings.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	cfg, warnings, err := config.Load(path, mergedFlags(cmd))
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "master: warning:", w)
	}
	if err != nil {
		return cfg, err
	}
	return cfg, nil
}

// mergedFlags is cmd's flags, including inherited persistent ones.
func mergedFlags(cmd *cobra.Command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(cmd.Name(), pflag.ContinueOnError)
	fs.AddFlagSet(cmd.InheritedFlags())
	fs.AddFlagSet(cmd.Flags())
	return fs
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// markUsageErrors makes every command's argument check report a usage
// error (exit 2), and an unknown subcommand too.
func markUsageErrors(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	} else if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		// A group: with no subcommand it shows its help; an unknown one
		// is a usage error, not help with exit 0.
		c.Args = func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				return usageError{fmt.Errorf("unknown command %q for %q; see `%s --help`", a[0], cmd.CommandPath(), cmd.CommandPath())}
			}
			return nil
		}
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	}
	for _, sub := range c.Commands() {
		markUsageErrors(sub)
	}
}
