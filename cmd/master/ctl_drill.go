package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/drill"
)

func ctlDrill() *cobra.Command {
	c := &cobra.Command{
		Use:   "drill",
		Short: "Run a failover drill against the live cluster with a workload of its own; exit 1 if a write was lost or the history is not linearizable",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			count, _ := cmd.Flags().GetInt("count")
			kinds, _ := cmd.Flags().GetStringSlice("kinds")
			workers, _ := cmd.Flags().GetInt("workers")
			wait, _ := cmd.Flags().GetDuration("round-timeout")
			if count < 1 {
				return usageError{fmt.Errorf("--count %d: give at least 1", count)}
			}
			for _, k := range kinds {
				if k != drill.KindSwitchover && k != drill.KindFailover {
					return usageError{fmt.Errorf("--kinds %q: use switchover and/or failover", k)}
				}
			}
			var progress *os.File
			if !e.json {
				progress = os.Stdout
			}
			o := drill.Options{Cluster: e.cfg.cluster, Client: e.cfg.c, Count: count, Kinds: kinds, Workers: workers, Timeout: wait}
			if progress != nil {
				o.Progress = progress
			}
			r, err := drill.Run(e.ctx, o)
			if e.json {
				if perr := e.printJSON(r); perr != nil {
					return perr
				}
			} else if len(r.Rounds) > 0 || r.Operations > 0 {
				fmt.Fprintf(e.out, "\n%d operations, %d writes acknowledged, %d with unknown outcome, in %s\n",
					r.Operations, r.AcknowledgedWrites, r.UnknownWrites, r.Dir)
				ks := make([]string, 0, len(r.Unavailability))
				for k := range r.Unavailability {
					ks = append(ks, k)
				}
				sort.Strings(ks)
				for _, k := range ks {
					p := r.Unavailability[k]
					fmt.Fprintf(e.out, "%-10s  %d rounds  writes unavailable p50 %.1f ms  p99 %.1f ms  max %.1f ms\n", k, p.Count, p.P50, p.P99, p.Max)
				}
				verdict := "PASSED"
				if !r.Passed() {
					verdict = "FAILED"
				}
				fmt.Fprintf(e.out, "lost writes: %d  linearizable: %v  %s\n", len(r.Lost), r.Linearizable, verdict)
				if len(r.Lost) > 0 {
					fmt.Fprintf(e.out, "lost: %s\n", strings.Join(r.Lost, " "))
				}
			}
			return err
		}),
	}
	c.Flags().Int("count", 4, "leadership changes to make")
	c.Flags().StringSlice("kinds", []string{drill.KindSwitchover, drill.KindFailover}, "kinds of change, taken in turn: switchover, failover")
	c.Flags().Int("workers", 4, "concurrent clients of the drill's workload")
	c.Flags().Duration("round-timeout", 30*time.Second, "bound on each change's wait for the new primary")
	// The whole drill: --timeout (default 30 s) is too short for many rounds.
	c.PreRun = func(cmd *cobra.Command, _ []string) {
		if f := cmd.Flags().Lookup("timeout"); f != nil && !f.Changed {
			cmd.Flags().Set("timeout", "30m")
		}
	}
	return c
}
