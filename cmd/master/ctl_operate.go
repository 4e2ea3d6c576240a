package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
)

func ctlSwitchover() *cobra.Command {
	c := &cobra.Command{
		Use:   "switchover --to NODE",
		Short: "Hand leadership gracefully to a caught-up standby; no write is lost",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			to, _ := cmd.Flags().GetString("to")
			if to == "" {
				return usageError{fmt.Errorf("switchover: --to NODE is required (see `master ctl status` for the standbys)")}
			}
			e, err := newCtlEnv(cmd)
			if err != nil {
				return err
			}
			defer e.cancel()
			// --timeout bounds the whole command, the wait for the takeover included.
			wait, _ := cmd.Flags().GetDuration("timeout")
			r, err := ctl.Switchover(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster, to, e.cfg.c.Conn, wait)
			if err != nil {
				return e.explain(err)
			}
			if e.json {
				return e.printJSON(r)
			}
			fmt.Fprintf(e.out, "switched over %s → %s (token %d → %d) in %.1f ms; last index of %s: %d\n",
				r.From, r.To, r.OldToken, r.NewToken, r.SwitchoverTimeMs, r.From, r.LastIndex)
			return nil
		},
	}
	c.Flags().String("to", "", "the standby to hand over to")
	return c
}

func ctlPause(pause bool) *cobra.Command {
	use, short := "pause", "Maintenance mode: no automatic failover until resume (the primary keeps serving)"
	if !pause {
		use, short = "resume", "Leave maintenance mode: standbys campaign again"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			var err error
			if pause {
				err = ctl.Pause(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster)
			} else {
				err = ctl.Resume(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster)
			}
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(struct {
					Cluster string `json:"cluster"`
					Paused  bool   `json:"paused"`
				}{e.cfg.cluster, pause})
			}
			fmt.Fprintf(e.out, "cluster %s paused: %v\n", e.cfg.cluster, pause)
			return nil
		}),
	}
	if !pause {
		c.Annotations = map[string]string{allowPausedWithoutMasters: "true"}
	}
	return c
}

func ctlHistory() *cobra.Command {
	return &cobra.Command{
		Use:   "history",
		Short: "Past leadership changes with their reasons and phases",
		Args:  cobra.NoArgs,
		RunE: withEnv(func(cmd *cobra.Command, e *ctlEnv, _ []string) error {
			hs, err := ctl.History(e.ctx, e.cfg.c.Etcd(), e.cfg.cluster)
			if err != nil {
				return err
			}
			if hs == nil {
				hs = []cluster.HistoryRecord{}
			}
			if e.json {
				return e.printJSON(historyJSON{Cluster: e.cfg.cluster, History: hs})
			}
			tw := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tNEW PRIMARY\tTOKEN\tPREVIOUS PRIMARY\tPREVIOUS TOKEN\tREASON\tDETECT MS\tELECT MS\tCATCH UP MS\tFIRST WRITE MS\tTOTAL MS")
			opt := func(v *float64) string {
				if v == nil {
					return "-"
				}
				return fmt.Sprintf("%.1f", *v)
			}
			for _, h := range hs {
				prev := h.PreviousPrimary
				if prev == "" {
					prev = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%.2f\t%.2f\t%s\n", h.Time.Format(time.RFC3339), h.NewPrimary, h.Token,
					prev, h.PreviousToken, h.Reason, opt(h.Phases.DetectMs), opt(h.Phases.ElectMs), h.Phases.CatchUpMs, h.Phases.FirstWriteMs, opt(h.Phases.TotalMs))
			}
			return tw.Flush()
		}),
	}
}

// historyJSON is `ctl history -o json`: a struct, so its keys keep one
// order (as every -o json does), oldest change first.
type historyJSON struct {
	Cluster string                  `json:"cluster"`
	History []cluster.HistoryRecord `json:"history"`
}
