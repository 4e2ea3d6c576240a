package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/server"
	"github.com/gfsha/master/internal/tlsconfig"
)

func newCtl() *cobra.Command {
	c := &cobra.Command{
		Use:   "ctl",
		Short: "Operate the cluster and its namespace (finds it through etcd)",
	}
	c.PersistentFlags().StringP("output", "o", "text", "output format: text or json")
	c.PersistentFlags().Duration("timeout", 30*time.Second, "bound on the whole command (for failover and switchover: on the wait for the new primary too)")
	c.AddCommand(ctlStatus(), ctlFailover(), ctlNamespace("mkdir"), ctlNamespace("create"), ctlNamespace("rm"),
		ctlLs(), ctlStat(), ctlMv(), ctlCheckpoint(), ctlPut(), ctlCat(), ctlAppend(), ctlChunkservers(),
		ctlSwitchover(), ctlPause(true), ctlPause(false), ctlHistory())
	return c
}

// ctlEnv is what a ctl command needs: config, a bounded context, output.
type ctlEnv struct {
	ctx    context.Context
	cancel context.CancelFunc
	json   bool
	out    io.Writer
	cfg    clientConfig
}

type clientConfig struct {
	cluster   string
	endpoints []string
	c         *client.Client
}

func newCtlEnv(cmd *cobra.Command) (*ctlEnv, error) {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	format, _ := cmd.Flags().GetString("output")
	if format != "text" && format != "json" {
		return nil, usageError{fmt.Errorf("-o %q: use text or json", format)}
	}
	// A bad TLS file is a configuration error, reported before any dialing.
	rpcTLS, err := tlsconfig.Client(cfg.TLS)
	if err != nil {
		return nil, err
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	etcd, err := server.Dial(cfg)
	if err != nil {
		cancel()
		stop()
		return nil, err
	}
	// Fail fast and clearly when etcd is unreachable. The probe reads a key
	// of this cluster, which an etcd user limited to its prefix may read.
	pctx, pcancel := context.WithTimeout(ctx, cfg.Etcd.DialTimeout)
	_, err = etcd.Get(pctx, cfg.Prefix()+"/health-probe")
	pcancel()
	if err != nil {
		etcd.Close()
		cancel()
		stop()
		if errors.Is(err, rpctypes.ErrPermissionDenied) {
			return nil, fmt.Errorf("etcd at %v: user %q (etcd.username) may not read %s/: grant it readwrite on that prefix: %v",
				cfg.Etcd.Endpoints, cfg.Etcd.Username, cfg.Prefix(), err)
		}
		return nil, fmt.Errorf("etcd at %v unreachable: %v (check etcd.endpoints / --etcd-endpoints)", cfg.Etcd.Endpoints, err)
	}
	cl, err := client.New(ctx, client.Config{Etcd: etcd, Cluster: cfg.Cluster, TLS: rpcTLS})
	if err != nil {
		etcd.Close()
		cancel()
		stop()
		return nil, err
	}
	e := &ctlEnv{ctx: ctx, json: format == "json", out: os.Stdout, cfg: clientConfig{cluster: cfg.Cluster, endpoints: cfg.Etcd.Endpoints, c: cl}}
	e.cancel = func() { cl.Close(); etcd.Close(); cancel(); stop() }
	return e, nil
}

func (e *ctlEnv) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	return enc.Encode(v)
}

func ctlStatus() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the members, who leads, the fencing token and replay lag",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			r, err := ctl.Status(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintf(e.out, "cluster %s  primary %q  shadow %q  token %d  last fenced index %d  wal lag %d entries / %.1f ms\n\n",
				r.Cluster, r.Primary, r.Shadow, r.Token, r.LastFencedIndex, r.WALLagEntries, r.WALLagMs)
			tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tROLE\tADDRESS\tHTTP\tLEASE\tAPPLIED\tLAG\tLAG MS\tCHECKPOINT")
			for _, m := range r.Members {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%d\n", m.NodeID, m.Role, m.Address, m.HTTPAddress, m.LeaseID,
					m.AppliedIndex, m.LagEntries, m.LagMs, m.CheckpointIndex)
			}
			return tw.Flush()
		}),
	}
}

func ctlFailover() *cobra.Command {
	c := &cobra.Command{
		Use:   "failover",
		Short: "Force a failover: revoke the primary's lease and wait for a standby to serve",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			from, _ := cmd.Flags().GetString("from")
			// --timeout bounds the whole command, the wait for the takeover included.
			wait, _ := cmd.Flags().GetDuration("timeout")
			r, err := ctl.Failover(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster, from, wait)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintf(e.out, "failed master %s → new primary %s (token %d → %d) in %.1f ms, %d WAL entries replayed\n",
				r.FailedMaster, r.NewPrimary, r.OldToken, r.NewToken, r.FailoverTimeMs, r.WALEntriesReplayed)
			return nil
		}),
	}
	c.Flags().String("from", "", "node whose lease to revoke (default: the current primary)")
	return c
}

func ctlNamespace(verb string) *cobra.Command {
	short := map[string]string{"mkdir": "Create a directory", "create": "Create an empty file", "rm": "Remove a file or an empty directory"}[verb]
	return &cobra.Command{
		Use:   verb + " PATH",
		Short: short,
		Args:  exactArgs(1, verb+" PATH"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			c := e.cfg.c
			var err error
			switch verb {
			case "mkdir":
				err = c.Mkdir(e.ctx, args[0])
			case "create":
				err = c.Create(e.ctx, args[0])
			case "rm":
				err = c.Delete(e.ctx, args[0])
			}
			if err != nil {
				return nsError(verb, err)
			}
			if e.json {
				return e.printJSON(map[string]any{"ok": true, "path": args[0]})
			}
			return nil
		}),
	}
}

func ctlMv() *cobra.Command {
	return &cobra.Command{
		Use:   "mv SRC DST",
		Short: "Rename a file or directory",
		Args:  exactArgs(2, "mv SRC DST"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			if err := e.cfg.c.Rename(e.ctx, args[0], args[1]); err != nil {
				return nsError("mv", err)
			}
			if e.json {
				return e.printJSON(map[string]any{"ok": true, "src": args[0], "dst": args[1]})
			}
			return nil
		}),
	}
}

type lsJSON struct {
	Path    string         `json:"path"`
	Entries []client.Entry `json:"entries"`
}

func ctlLs() *cobra.Command {
	return &cobra.Command{
		Use:   "ls PATH",
		Short: "List a directory",
		Args:  exactArgs(1, "ls PATH"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			es, err := e.cfg.c.List(e.ctx, args[0])
			if err != nil {
				return nsError("ls", err)
			}
			if e.json {
				if es == nil {
					es = []client.Entry{}
				}
				return e.printJSON(lsJSON{Path: args[0], Entries: es})
			}
			tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
			for _, x := range es {
				kind := "file"
				if x.Dir {
					kind = "dir"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d chunks\n", x.Name, kind, x.Size, x.Chunks)
			}
			return tw.Flush()
		}),
	}
}

func ctlStat() *cobra.Command {
	return &cobra.Command{
		Use:   "stat PATH",
		Short: "Describe a file or directory",
		Args:  exactArgs(1, "stat PATH"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			x, err := e.cfg.c.Stat(e.ctx, args[0])
			if err != nil {
				return nsError("stat", err)
			}
			if e.json {
				return e.printJSON(x)
			}
			kind := "file"
			if x.Dir {
				kind = "dir"
			}
			fmt.Fprintf(e.out, "%s\t%s\tsize %d\t%d chunks\n", x.Path, kind, x.Size, x.Chunks)
			return nil
		}),
	}
}

// nsError keeps the master's message (which names the path and says
// "not found" or "exists") and marks argument errors as usage errors.
func nsError(verb string, err error) error {
	if errors.Is(err, client.ErrInvalid) {
		return usageError{err}
	}
	return err
}

func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("usage: master ctl %s (got %d arguments)", usage, len(args))}
		}
		return nil
	}
}

func ctlCheckpoint() *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Make every member write a checkpoint now and trim the log below them",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			st, err := ctl.Status(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster)
			if err != nil {
				return err
			}
			r, err := ctl.Checkpoint(e.ctx, st, e.cfg.c.Conn)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintf(e.out, "%d\n", r.Index)
			return nil
		}),
	}
}

// withEnv gives a ctl command's body its environment (config, etcd, the
// client, a bounded context) and releases it afterwards.
func withEnv(body func(cmd *cobra.Command, e *ctlEnv, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, err := newCtlEnv(cmd)
		if err != nil {
			return err
		}
		defer e.cancel()
		return body(cmd, e, args)
	}
}
