package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/benchsuite"
)

func newBench() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure writes, failover, replay, memory and restart in-process on an embedded etcd; write SVG plots",
		Long: `bench runs the benchmark suite in this process, on an embedded etcd with fsync on,
and prints a table that marks each target met or missed (or, with -o json, the figures).
It writes SVG plots of the failover timeline and of throughput against latency into --out.
--quick takes under four minutes on a 2-core machine; without it the runs are longer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, _ := cmd.Flags().GetString("output")
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("-o %q: use text or json", format)}
			}
			quick, _ := cmd.Flags().GetBool("quick")
			outDir, _ := cmd.Flags().GetString("out")
			o := benchsuite.Full()
			if quick {
				o = benchsuite.Quick()
			}
			o.Progress = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			began := time.Now()
			res, err := benchsuite.Run(ctx, o)
			if err != nil {
				return err
			}
			plots, err := benchsuite.WriteSVGs(outDir, res)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
				for _, p := range plots {
					fmt.Fprintln(cmd.ErrOrStderr(), "bench: plot:", p)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "bench: total time %v\n", time.Since(began).Round(100*time.Millisecond))
				return nil
			}
			if err := res.Table(out); err != nil {
				return err
			}
			fmt.Fprintln(out)
			for _, p := range plots {
				fmt.Fprintln(out, "plot:", p)
			}
			fmt.Fprintf(out, "total time: %v\n", time.Since(began).Round(100*time.Millisecond))
			return nil
		},
	}
	c.Flags().Bool("quick", false, "the short suite (under four minutes on 2 cores)")
	c.Flags().StringP("output", "o", "text", "output format: text or json")
	c.Flags().String("out", "bench-out", "directory for the SVG plots")
	return c
}
