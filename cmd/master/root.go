package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/version"
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
	defer focusHelp(root)
	root.Version = version.Get().Version
	root.SetVersionTemplate("master {{.Version}} (`master version` for commit, build date, Go and etcd versions)\n")
	root.AddCommand(newServe(), newDev(), newCtl(), newMaelstrom(), newChunkserver(), newBench(), newVersion(), newMount())
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

// newLogger makes the process log on stderr: log.level and log.format.
func newLogger(c config.Log) *slog.Logger { return newLoggerTo(os.Stderr, c) }

func newLoggerTo(w io.Writer, c config.Log) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
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

// helpKeys are the configuration keys (by prefix) a command tree uses; its
// --help shows only those of the inherited key flags, not the server's
// forty. Commands not listed show them all.
var helpKeys = map[string][]string{
	"ctl": {"cluster", "etcd.endpoints", "etcd.dial_timeout", "etcd.username", "etcd.password", "etcd.tls.",
		"tls.ca", "tls.client_cert", "tls.client_key", "tls.server_name", "read."},
	"version": {},
}

// focusHelp makes each command's --help list its own flags, the common
// ones, and only the configuration keys it reads.
func focusHelp(root *cobra.Command) {
	def := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		top := c
		for top.HasParent() && top.Parent() != root {
			top = top.Parent()
		}
		keep, ok := helpKeys[top.Name()]
		if !ok || top == root {
			def(c, args)
			return
		}
		var hidden []*pflag.Flag
		c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
			key, isKey := config.IsKeyFlag(f.Name)
			if !isKey || f.Hidden {
				return
			}
			for _, p := range keep {
				if strings.HasPrefix(key, p) {
					return
				}
			}
			f.Hidden = true
			hidden = append(hidden, f)
		})
		def(c, args)
		for _, f := range hidden {
			f.Hidden = false
		}
	})
}
