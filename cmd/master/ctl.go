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
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/etcdprobe"
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
		ctlSwitchover(), ctlPause(true), ctlPause(false), ctlHistory(), ctlRemove(), ctlFsck(), ctlDrill())
	return c
}

// ctlEnv is what a ctl command needs: config, a bounded context, output.
type ctlEnv struct {
	ctx context.Context
	// watchCtx ends only at SIGINT/SIGTERM (for --watch, which --timeout
	// does not bound).
	watchCtx context.Context
	cancel   context.CancelFunc
	timeout  time.Duration // --timeout, which bounds ctx
	json     bool
	out      io.Writer
	cfg      clientConfig
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
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(sigCtx, timeout)
	etcd, err := server.Dial(cfg)
	if err != nil {
		cancel()
		stop()
		return nil, err
	}
	// Fail fast and clearly when etcd is unreachable: a refused port at
	// once, then a probe that reads a key of this cluster (which an etcd
	// user limited to its prefix may read).
	err = etcdprobe.Refused(ctx, cfg.Etcd.Endpoints)
	if err == nil {
		pctx, pcancel := context.WithTimeout(ctx, cfg.Etcd.DialTimeout)
		_, err = etcd.Get(pctx, cfg.Prefix()+"/health-probe")
		pcancel()
	}
	if err != nil {
		etcd.Close()
		cancel()
		stop()
		if errors.Is(err, etcdprobe.ErrRefused) {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, commandEnded(ctx, timeout, fmt.Errorf("etcd at %v did not answer in time", cfg.Etcd.Endpoints))
		}
		if errors.Is(err, rpctypes.ErrPermissionDenied) {
			return nil, fmt.Errorf("etcd at %v: user %q (etcd.username) may not read %s/: grant it readwrite on that prefix: %v",
				cfg.Etcd.Endpoints, cfg.Etcd.Username, cfg.Prefix(), err)
		}
		return nil, fmt.Errorf("etcd at %v unreachable: %v (check etcd.endpoints / --etcd-endpoints)", cfg.Etcd.Endpoints, err)
	}
	// A cluster nobody runs (a misspelt --cluster): say so at once rather
	// than wait for a primary, print an empty table or write keys for it.
	if err := requireMasters(ctx, cmd, etcd, cfg.Cluster, cfg.Etcd.Endpoints); err != nil {
		etcd.Close()
		cancel()
		stop()
		return nil, err
	}
	cl, err := client.New(ctx, client.Config{Etcd: etcd, Cluster: cfg.Cluster, TLS: rpcTLS,
		Read: client.ReadConfig{Consistency: cfg.Read.Consistency, From: cfg.Read.From, MaxLag: cfg.Read.MaxLag}})
	if err != nil {
		etcd.Close()
		cancel()
		stop()
		return nil, err
	}
	e := &ctlEnv{ctx: ctx, watchCtx: sigCtx, timeout: timeout, json: format == "json", out: os.Stdout, cfg: clientConfig{cluster: cfg.Cluster, endpoints: cfg.Etcd.Endpoints, c: cl}}
	e.cancel = func() { cl.Close(); etcd.Close(); cancel(); stop() }
	return e, nil
}

// commandEnded says why a command's context ended, when it did: its
// --timeout ran out (not "etcd unreachable"), or it was interrupted.
func commandEnded(ctx context.Context, timeout time.Duration, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("--timeout %v ran out: %w (give a longer --timeout)", timeout, err)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: %w", err)
	}
	return err
}

// explain is commandEnded for this command's context.
func (e *ctlEnv) explain(err error) error {
	if err == nil {
		return nil
	}
	return commandEnded(e.ctx, e.timeout, err)
}

// allowPausedWithoutMasters, as a command's annotation, lets it run on a
// cluster with no master registered while that cluster is paused: `resume`
// must still work when every master is stopped, or they would all start
// paused with no way out.
const allowPausedWithoutMasters = "ctl.allow_paused_without_masters"

func requireMasters(ctx context.Context, cmd *cobra.Command, etcd *clientv3.Client, name string, endpoints []string) error {
	err := ctl.RequireMasters(ctx, etcd, name, endpoints)
	if errors.Is(err, ctl.ErrNoMasters) && cmd.Annotations[allowPausedWithoutMasters] != "" {
		if paused, perr := ctl.IsPaused(ctx, etcd, name); perr == nil && paused {
			return nil
		}
	}
	return err
}

func (e *ctlEnv) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	return enc.Encode(v)
}

func ctlStatus() *cobra.Command {
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the members (running and down), who leads, the fencing token and replay lag",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			watch, _ := cmd.Flags().GetBool("watch")
			if !watch {
				r, err := ctl.Status(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster)
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(r)
				}
				return writeStatus(e.out, r, time.Now())
			}
			// --watch: redraw every interval until Ctrl-C (not bounded by --timeout).
			every, _ := cmd.Flags().GetDuration("interval")
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				r, err := ctl.Status(e.watchCtx, e.cfg.c.Etcd(), e.cfg.cluster)
				if e.watchCtx.Err() != nil {
					return nil
				}
				if e.json {
					if err == nil {
						err = e.printJSON(r)
					}
				} else {
					fmt.Fprint(e.out, "\033[H\033[2J")
					if err == nil {
						err = writeStatus(e.out, r, time.Now())
					}
				}
				if err != nil {
					fmt.Fprintf(e.out, "status: %v\n", err)
				}
				select {
				case <-e.watchCtx.Done():
					return nil
				case <-tick.C:
				}
			}
		}),
	}
	c.Flags().BoolP("watch", "w", false, "redraw the status every --interval until Ctrl-C")
	c.Flags().Duration("interval", time.Second, "redraw interval of --watch")
	return c
}

// writeStatus prints a Report as text: a summary line, warnings, a table.
func writeStatus(w io.Writer, r ctl.Report, now time.Time) error {
	paused := ""
	if r.Paused {
		paused = "  PAUSED (no automatic failover; `ctl resume`)"
	}
	fmt.Fprintf(w, "cluster %s  primary %q  shadow %q  token %d  last fenced index %d  wal lag %d entries / %.1f ms%s\n",
		r.Cluster, r.Primary, r.Shadow, r.Token, r.LastFencedIndex, r.WALLagEntries, r.WALLagMs, paused)
	for _, warn := range ctl.Warnings(r) {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tADDRESS\tHTTP\tLEASE\tAPPLIED\tLAG\tLAG MS\tCHECKPOINT\tTAGS\tLAST SEEN")
	for _, m := range r.Members {
		seen := "-"
		if m.LastSeen != nil {
			seen = fmt.Sprintf("%s ago", now.Sub(*m.LastSeen).Round(time.Second))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%.1f\t%d\t%s\t%s\n", m.NodeID, m.Role, m.Address, m.HTTPAddress, orDash(m.LeaseID),
			m.AppliedIndex, m.LagEntries, m.LagMs, m.CheckpointIndex, tagsText(m.Tags), seen)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tagsText(t *cluster.Tags) string {
	if t == nil {
		return "-"
	}
	s := fmt.Sprintf("priority=%d", t.FailoverPriority)
	if t.NoFailover {
		s = "nofailover"
	}
	return s
}

func ctlRemove() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NODE",
		Short: "Forget a down member, so status stops listing it",
		Args:  exactArgs(1, "remove NODE"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			if err := ctl.Remove(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster, args[0]); err != nil {
				return err
			}
			if e.json {
				return e.printJSON(struct {
					OK      bool   `json:"ok"`
					Removed string `json:"removed"`
				}{true, args[0]})
			}
			fmt.Fprintf(e.out, "removed %s\n", args[0])
			return nil
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
				return e.printJSON(struct {
					OK   bool   `json:"ok"`
					Path string `json:"path"`
				}{true, args[0]})
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
				return e.printJSON(struct {
					OK  bool   `json:"ok"`
					Src string `json:"src"`
					Dst string `json:"dst"`
				}{true, args[0], args[1]})
			}
			return nil
		}),
	}
}

type lsJSON struct {
	Path    string         `json:"path"`
	Entries []client.Entry `json:"entries"`
	client.ReadInfo
}

type statJSON struct {
	client.Entry
	client.ReadInfo
}

func ctlLs() *cobra.Command {
	return &cobra.Command{
		Use:   "ls PATH",
		Short: "List a directory",
		Args:  exactArgs(1, "ls PATH"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			es, info, err := e.cfg.c.ListInfo(e.ctx, args[0])
			if err != nil {
				return nsError("ls", err)
			}
			if e.json {
				if es == nil {
					es = []client.Entry{}
				}
				return e.printJSON(lsJSON{Path: args[0], Entries: es, ReadInfo: info})
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
			x, info, err := e.cfg.c.StatInfo(e.ctx, args[0])
			if err != nil {
				return nsError("stat", err)
			}
			if e.json {
				return e.printJSON(statJSON{Entry: x, ReadInfo: info})
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
		return e.explain(body(cmd, e, args))
	}
}
