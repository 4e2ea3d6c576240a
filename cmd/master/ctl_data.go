package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/client"
)

// dataTimeout is the default bound of put and cat, which move whole files:
// the ctl default (30 s) is for metadata commands.
const dataTimeout = "1h"

func withDataTimeout(cmd *cobra.Command) {
	if f := cmd.Flags().Lookup("timeout"); f != nil && !f.Changed {
		cmd.Flags().Set("timeout", dataTimeout)
	}
}

func ctlPut() *cobra.Command {
	return &cobra.Command{
		Use:   "put LOCALFILE PATH",
		Short: "Store a local file at PATH (data goes to the chunkservers; PATH appears once all is written)",
		Args:  exactArgs(2, "put LOCALFILE PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			withDataTimeout(cmd)
			// A missing local file fails before the cluster is contacted.
			if _, err := os.Stat(args[0]); err != nil {
				return fmt.Errorf("put %s: local file %s: %v", args[1], args[0], unwrapPath(err))
			}
			e, err := newCtlEnv(cmd)
			if err != nil {
				return err
			}
			defer e.cancel()
			start := time.Now()
			n, placed, err := putFile(e.ctx, e.cfg.c, args[0], args[1])
			if err != nil {
				return e.explain(nsError("put", err))
			}
			took := time.Since(start)
			mibs := float64(n) / (1 << 20) / took.Seconds()
			// Fewer replicas than chunk.replication is not a failure (the
			// data is written, and re-replicated once chunkservers join),
			// but the operator is told, on stderr and in the JSON.
			warning := ""
			if placed.Short() {
				warning = fmt.Sprintf("%d of %d chunks of %s were placed on %d chunkservers, fewer than chunk.replication %d; the data is written, and the primary copies it once more chunkservers run (check with ctl fsck)",
					placed.UnderReplicated, placed.Chunks, args[1], placed.Replicas, placed.Wanted)
				fmt.Fprintln(cmd.ErrOrStderr(), "master: warning: put", warning)
			}
			if e.json {
				return e.printJSON(putResult{Path: args[1], Bytes: n, Seconds: took.Seconds(), MiBPerS: mibs, Placement: placed, Warning: warning})
			}
			fmt.Fprintf(e.out, "%s → %s: %d bytes in %v (%.1f MiB/s)\n", args[0], args[1], n, took.Round(time.Millisecond), mibs)
			return nil
		},
	}
}

// putResult is `ctl put -o json`: the chunks' placement (chunks, replicas,
// wanted, under_replicated) follows the transfer figures; warning is set
// when a chunk got fewer replicas than chunk.replication.
type putResult struct {
	Path    string  `json:"path"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBPerS float64 `json:"mib_per_s"`
	client.Placement
	Warning string `json:"warning,omitempty"`
}

// putFile streams the local file local to path with the streaming writer.
func putFile(ctx context.Context, c *client.Client, local, path string) (int64, client.Placement, error) {
	f, err := os.Open(local)
	if err != nil {
		return 0, client.Placement{}, fmt.Errorf("put %s: local file %s: %v", path, local, unwrapPath(err))
	}
	defer f.Close()
	w, err := c.CreateFile(ctx, path)
	if err != nil {
		return 0, client.Placement{}, err
	}
	n, err := io.Copy(w, f)
	if err != nil {
		w.Abort()
		return n, w.Placement(), err
	}
	err = w.Close()
	return n, w.Placement(), err
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func ctlAppend() *cobra.Command {
	return &cobra.Command{
		Use:   "append PATH",
		Short: "Append stdin as one record to the file at PATH (GFS record append; the chunk's primary replica picks the offset)",
		Args:  exactArgs(1, "append PATH"),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			data, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<30))
			if err != nil {
				return fmt.Errorf("append %s: read stdin: %v", args[0], err)
			}
			a, err := e.cfg.c.Append(e.ctx, args[0], data)
			if err != nil {
				return nsError("append", err)
			}
			if e.json {
				return e.printJSON(struct {
					Path   string `json:"path"`
					Offset int64  `json:"offset"`
					Length int64  `json:"length"`
					ID     string `json:"id"`
				}{args[0], a.Offset, a.Length, a.ID.String()})
			}
			fmt.Fprintf(e.out, "appended %d bytes to %s at offset %d (record %s)\n", len(data), args[0], a.Offset, a.ID)
			return nil
		}),
	}
}

func ctlCat() *cobra.Command {
	c := &cobra.Command{
		Use:   "cat PATH",
		Short: "Write the file at PATH to stdout (read from any up-to-date replica)",
		Args:  exactArgs(1, "cat PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			withDataTimeout(cmd)
			e, err := newCtlEnv(cmd)
			if err != nil {
				return err
			}
			defer e.cancel()
			if records, _ := cmd.Flags().GetBool("records"); records {
				w := bufio.NewWriterSize(e.out, 1<<20)
				err := e.cfg.c.ScanRecords(e.ctx, args[0], func(r client.Record) error {
					_, err := w.Write(r.Data)
					return err
				})
				if err != nil {
					w.Flush()
					return e.explain(catError(e, args[0], err))
				}
				return w.Flush()
			}
			f, err := e.cfg.c.Open(e.ctx, args[0])
			if err != nil {
				return e.explain(catError(e, args[0], err))
			}
			defer f.Close()
			w := bufio.NewWriterSize(e.out, 1<<20)
			if _, err := io.Copy(w, f); err != nil {
				w.Flush()
				return e.explain(nsError("cat", fmt.Errorf("cat %s: %w", args[0], err)))
			}
			return w.Flush()
		},
	}
	c.Flags().Bool("records", false, "the file holds appended records (ctl append): print each record's data once, without framing, padding or duplicates")
	return c
}

// catError is a failed cat's error. A directory is a path the operation
// failed on (exit 1), not bad usage (exit 2), and is named as such.
func catError(e *ctlEnv, path string, err error) error {
	if errors.Is(err, client.ErrInvalid) {
		if ent, serr := e.cfg.c.Stat(e.ctx, path); serr == nil && ent.Dir {
			return fmt.Errorf("cat %s: %s is a directory; give a file (ctl ls %s lists it)", path, path, path)
		}
	}
	return nsError("cat", err)
}

func ctlChunkservers() *cobra.Command {
	return &cobra.Command{
		Use:   "chunkservers",
		Short: "List the chunkservers the primary knows, with the token each obeys",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			r, err := e.cfg.c.Chunkservers(e.ctx)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintf(e.out, "primary %s  token %d  %d chunkservers\n\n", r.Primary, r.Token, len(r.Chunkservers))
			tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tADDRESS\tTOKEN\tLAST HEARTBEAT MS\tCHUNKS\tATTACHED AFTER SERVING MS\tFREE")
			for _, s := range r.Chunkservers {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%d\t%.1f\t%d MiB\n", s.ID, s.Address, s.Token, s.LastHeartbeatMs, s.Chunks,
					s.AttachedAfterServingMs, s.FreeBytes>>20)
			}
			return tw.Flush()
		}),
	}
}

// errDataMissing: fsck found chunks with no live current replica (exit 1).
var errDataMissing = errors.New("data is missing")

func ctlFsck() *cobra.Command {
	return &cobra.Command{
		Use:   "fsck [PATH]",
		Short: "Check every file's chunks against chunk.replication; exit 1 when data is missing",
		Args:  cobra.MaximumNArgs(1),
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, args []string) error {
			path := "/"
			if len(args) == 1 {
				path = args[0]
			}
			r, err := e.cfg.c.Fsck(e.ctx, path)
			if err != nil {
				return nsError("fsck", err)
			}
			if e.json {
				err = e.printJSON(r)
			} else {
				fmt.Fprintf(e.out, "%s: %d files, %d chunks, replication %d on %d live chunkservers (primary %s)\n",
					r.Path, r.Files, r.Chunks, r.Replication, r.Chunkservers, r.Primary)
				fmt.Fprintf(e.out, "under-replicated %d  over-replicated %d  missing %d  corrupt %d\n",
					r.UnderReplicated, r.OverReplicated, r.Missing, r.Corrupt)
				if len(r.Problems) > 0 {
					fmt.Fprintln(e.out)
					tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "PATH\tHANDLE\tVERSION\tPROBLEM\tREPLICAS\tSTALE")
					for _, p := range r.Problems {
						fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", p.Path, p.Handle, p.Version, p.Problem,
							orDash(strings.Join(p.Replicas, ",")), orDash(strings.Join(p.Stale, ",")))
					}
					tw.Flush()
				}
				if r.Healthy() {
					fmt.Fprintln(e.out, "status: HEALTHY")
				} else {
					fmt.Fprintln(e.out, "status: CORRUPT (data is missing)")
				}
			}
			if err == nil && !r.Healthy() {
				return fmt.Errorf("fsck %s: %d chunks missing, %d corrupt: %w", r.Path, r.Missing, r.Corrupt, errDataMissing)
			}
			return err
		}),
	}
}
