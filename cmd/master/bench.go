package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/benchcrash"
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
			if crash, _ := cmd.Flags().GetBool("crash"); crash {
				return runBenchCrash(cmd, format == "json")
			}
			if curve, _ := cmd.Flags().GetBool("curve"); curve {
				return runBenchCurve(cmd, format == "json")
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
	c.Flags().Bool("crash", false, "instead of the suite: kill -9 and restart real `master serve` child processes (10 s lease) and measure the first acknowledged create")
	c.Flags().Int("crashes", 20, "with --crash: kill -9 runs")
	c.Flags().Int("restarts", 5, "with --crash: lone restart runs")
	c.Flags().Bool("curve", false, "instead of the suite: creates and linearizable stats through one public client at C = 1, 16, 64, 256, 1024 beside etcd puts and gets (issue 15's curve)")
	c.Flags().Int("curve-rounds", 3, "with --curve: interleaved rounds")
	c.Flags().Duration("curve-duration", 1500*time.Millisecond, "with --curve: one measurement (per workload, C and round)")
	c.Flags().StringP("output", "o", "text", "output format: text or json")
	c.Flags().String("out", "bench-out", "directory for the SVG plots")
	return c
}

// runBenchCrash is `master bench --crash`.
func runBenchCrash(cmd *cobra.Command, asJSON bool) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench --crash: find this binary: %w", err)
	}
	crashes, _ := cmd.Flags().GetInt("crashes")
	restarts, _ := cmd.Flags().GetInt("restarts")
	if crashes < 1 || restarts < 1 {
		return usageError{fmt.Errorf("--crashes %d, --restarts %d: use at least 1 each", crashes, restarts)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := benchcrash.Run(ctx, benchcrash.Options{Binary: bin, Crashes: crashes, Restarts: restarts, Progress: cmd.ErrOrStderr()})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(out, "lease TTL %.0f ms; crash_detect default\n", res.LeaseTTLMs)
	fmt.Fprintf(out, "%-44s %5s %10s %10s %10s %10s\n", "case", "runs", "p50 ms", "p99 ms", "max ms", "target")
	row := func(name string, f benchcrash.Figures, target string) {
		fmt.Fprintf(out, "%-44s %5d %10.1f %10.1f %10.1f %10s\n", name, f.Runs, f.P50Ms, f.P99Ms, f.MaxMs, target)
	}
	row("kill -9 primary -> first acknowledged create", res.Kill9FirstWrite, "p99<=1000")
	row("lone restart -> first acknowledged create", res.RestartFirstWrite, "<=1000")
	return nil
}

// runBenchCurve is `master bench --curve`.
func runBenchCurve(cmd *cobra.Command, asJSON bool) error {
	o := benchsuite.DefaultCurve()
	o.Rounds, _ = cmd.Flags().GetInt("curve-rounds")
	o.Duration, _ = cmd.Flags().GetDuration("curve-duration")
	if o.Rounds < 1 || o.Duration <= 0 {
		return usageError{fmt.Errorf("--curve-rounds %d, --curve-duration %v: use at least 1 round of a positive duration", o.Rounds, o.Duration)}
	}
	o.Progress = cmd.ErrOrStderr()
	outDir, _ := cmd.Flags().GetString("out")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := benchsuite.Curve(ctx, o)
	if err != nil {
		return err
	}
	plots, err := benchsuite.WriteCurveSVGs(outDir, res)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		for _, p := range plots {
			fmt.Fprintln(cmd.ErrOrStderr(), "bench: plot:", p)
		}
		return nil
	}
	if err := res.Table(out); err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, p := range plots {
		fmt.Fprintln(out, "plot:", p)
	}
	return nil
}
