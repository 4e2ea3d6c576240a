package benchsuite

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The targets of issue 7, for a 2-core machine and an embedded etcd.
const (
	TargetEngineX        = 10.0    // engine creates per etcd put
	TargetRPCX           = 3.0     // RPC creates per etcd put
	TargetFailoverP99Ms  = 50.0    // revoke to first acknowledged write
	TargetReplayPerS     = 500_000 // records replayed per second
	TargetBytesPerFileLE = 200.0   // heap per file with one chunk
)

// Target is one target of issue 7 and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// targets judges res against the targets.
func targets(res *Result) []Target {
	ratio := func(x float64) float64 {
		if res.Write.EtcdPutOpsPerS == 0 {
			return 0
		}
		return x / res.Write.EtcdPutOpsPerS
	}
	eng, rpc := ratio(res.Write.EngineOpsPerS), ratio(res.Write.OpsPerS)
	return []Target{
		{Name: "engine", Want: fmt.Sprintf(">= %gx etcd put", TargetEngineX), Got: fmt.Sprintf("%.1fx", eng), Met: eng >= TargetEngineX},
		{Name: "rpc", Want: fmt.Sprintf(">= %gx etcd put", TargetRPCX), Got: fmt.Sprintf("%.1fx", rpc), Met: rpc >= TargetRPCX},
		{Name: "failover", Want: fmt.Sprintf("p99 <= %g ms", TargetFailoverP99Ms), Got: fmt.Sprintf("%.1f ms", res.Failover.P99Ms),
			Met: res.Failover.Runs > 0 && res.Failover.P99Ms <= TargetFailoverP99Ms},
		{Name: "replay", Want: ">= " + thousands(TargetReplayPerS) + " records/s", Got: thousands(res.Replay.EntriesPerS) + "/s",
			Met: res.Replay.EntriesPerS >= TargetReplayPerS},
		{Name: "memory", Want: fmt.Sprintf("<= %g bytes/file", TargetBytesPerFileLE), Got: fmt.Sprintf("%.1f", res.Memory.BytesPerFile),
			Met: res.Memory.Files > 0 && res.Memory.BytesPerFile <= TargetBytesPerFileLE},
	}
}

// target returns the named target, if res has it.
func (r *Result) target(name string) (Target, bool) {
	for _, t := range r.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// Missed lists the names of the targets this run missed.
func (r *Result) Missed() []string {
	var out []string
	for _, t := range r.Targets {
		if !t.Met {
			out = append(out, t.Name)
		}
	}
	return out
}

// Table prints the figures as a table, each target marked met or MISSED,
// then the RPC sweep.
func (r *Result) Table(w io.Writer) error {
	fsync := "fsync on"
	if !r.Run.Fsync {
		fsync = "fsync OFF (figures not comparable)"
	}
	fmt.Fprintf(w, "master bench (%s): %d writers, embedded etcd with %s, %d CPUs, total %v\n\n",
		r.Run.Size, r.Write.Writers, fsync, r.Run.CPUs, (time.Duration(r.Run.TotalS * float64(time.Second))).Round(100*time.Millisecond))
	if r.Run.LoadBefore >= 0.5*float64(max(r.Run.CPUs, 1)) {
		fmt.Fprintf(w, "note: the machine's load average was %.1f before the run: other work moves these figures\n\n", r.Run.LoadBefore)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tRESULT")
	row := func(figure, value, target string) {
		res := ""
		if t, ok := r.target(target); ok {
			res = "met"
			if !t.Met {
				res = "MISSED"
			}
			res += " (" + t.Got + ")"
			target = t.Want
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", figure, value, target, res)
	}
	wr := r.Write
	lat := func(p50, p99 float64) string { return fmt.Sprintf("p50 %.2f / p99 %.2f ms", p50, p99) }
	row(fmt.Sprintf("write: RPC creates (%d clients)", wr.RPCClients), thousands(wr.OpsPerS)+" ops/s", "rpc")
	row("  latency", lat(wr.P50Ms, wr.P99Ms), "")
	row("write: engine creates (node.Propose)", thousands(wr.EngineOpsPerS)+" ops/s", "engine")
	row("  latency", lat(wr.EngineP50Ms, wr.EngineP99Ms), "")
	row("write: etcd put (1 client)", thousands(wr.EtcdPutOpsPerS)+" ops/s", "")
	row("  latency", lat(wr.EtcdPutP50Ms, wr.EtcdPutP99Ms), "")
	f := r.Failover
	row(fmt.Sprintf("failover: revoke to first write (%d runs)", f.Runs),
		fmt.Sprintf("p50 %.1f / p99 %.1f / max %.1f ms", f.P50Ms, f.P99Ms, f.MaxMs), "failover")
	row(fmt.Sprintf("replay: standby from nothing (%s records, median of %d)", thousands(float64(r.Replay.Entries)), r.Replay.Runs),
		thousands(r.Replay.EntriesPerS)+" records/s", "replay")
	row(fmt.Sprintf("memory: %s files, 1 chunk each", thousands(float64(r.Memory.Files))),
		fmt.Sprintf("%.1f bytes/file", r.Memory.BytesPerFile), "memory")
	row(fmt.Sprintf("restart to serving: %s files", thousands(float64(r.Restart.Files))),
		fmt.Sprintf("%.0f ms", r.Restart.Ms), "")
	row(fmt.Sprintf("chunk scan read (every 1 s with chunkservers): %s chunks", thousands(float64(r.Scan.Chunks))),
		fmt.Sprintf("%.0f ms", r.Scan.WalkMs), "")
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := ReadTable(w, r.Reads); err != nil {
		return err
	}
	if len(r.Sweep) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RPC WRITERS\tOPS/S\tP50 MS\tP99 MS\t")
	for _, p := range r.Sweep {
		fmt.Fprintf(tw, "%d\t%s\t%.2f\t%.2f\t\n", p.Writers, thousands(p.OpsPerS), p.P50Ms, p.P99Ms)
	}
	return tw.Flush()
}

// thousands formats x rounded to an integer with thousands separators.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
