package benchsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tiny is a configuration small enough for the default test run; its
// figures mean nothing (fsync off), only their shape is tested.
func tiny(t *testing.T) Options {
	return Options{
		Name:          "tiny",
		Writers:       4,
		WriteWarmup:   20 * time.Millisecond,
		WriteDuration: 150 * time.Millisecond,
		WriteRounds:   2,
		SweepLevels:   []int{2, 4},
		SweepDuration: 100 * time.Millisecond,
		Failovers:     2,
		ReplayRecords: 300,
		ReplayRuns:    2,
		Files:         2000,
		Restarts:      1,
		NoFsync:       true,
		Dir:           t.TempDir(),
	}
}

func TestRunTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // a loaded CI machine took a minute
	defer cancel()
	var progress bytes.Buffer
	o := tiny(t)
	o.Progress = &progress
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}

	t.Run("json shape", func(t *testing.T) {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		// The shape issue 7 promises: every field a number.
		want := map[string][]string{
			"write":    {"ops_per_s", "engine_ops_per_s", "p50_ms", "p99_ms", "etcd_put_ops_per_s"},
			"failover": {"runs", "p50_ms", "p99_ms", "max_ms"},
			"replay":   {"entries_per_s"},
			"memory":   {"files", "bytes_per_file"},
			"restart":  {"files", "ms"},
		}
		for section, fields := range want {
			obj, ok := got[section].(map[string]any)
			if !ok {
				t.Errorf("%s = %v; want an object", section, got[section])
				continue
			}
			for _, f := range fields {
				if _, ok := obj[f].(float64); !ok {
					t.Errorf("%s.%s = %#v; want a number", section, f, obj[f])
				}
			}
		}
	})

	t.Run("figures", func(t *testing.T) {
		checks := []struct {
			name string
			ok   bool
		}{
			{"write.ops_per_s > 0", res.Write.OpsPerS > 0},
			{"write.engine_ops_per_s > 0", res.Write.EngineOpsPerS > 0},
			{"write.etcd_put_ops_per_s > 0", res.Write.EtcdPutOpsPerS > 0},
			{"write.p99_ms >= p50_ms", res.Write.P99Ms >= res.Write.P50Ms},
			{"failover.runs == 2", res.Failover.Runs == 2 && len(res.Failover.Timeline) == 2},
			{"failover.max_ms >= p99_ms >= p50_ms > 0", res.Failover.MaxMs >= res.Failover.P99Ms && res.Failover.P99Ms >= res.Failover.P50Ms && res.Failover.P50Ms > 0},
			{"replay.entries >= 300 in 2 runs", res.Replay.Entries >= 300 && res.Replay.EntriesPerS > 0 && res.Replay.Runs == 2 && res.Replay.MinMs <= res.Replay.MaxMs},
			{"memory.files == 2000", res.Memory.Files == 2000},
			{"restart.files == 2000", res.Restart.Files == 2000 && res.Restart.Ms > 0},
			{"scan.files == 2000", res.Scan.Files == 2000},
			{"sweep at 2 and 4 writers", len(res.Sweep) == 2 && res.Sweep[0].Writers == 2 && res.Sweep[1].Writers == 4},
			{"reads: etcd get at 2 concurrencies, 3 consistencies x 2 x 2", len(res.Reads) == 14 && res.Reads[0].Consistency == "etcd get" && res.Reads[2].Consistency == "linearizable"},
			{"five targets", len(res.Targets) == 5},
			{"run says fsync off", !res.Run.Fsync && res.Run.TotalS > 0},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("%s: false; result %+v", c.name, res)
			}
		}
		for _, r := range res.Failover.Timeline {
			sum := r.RevokeToWonMs + r.CatchUpMs + r.FirstWriteMs + r.AckMs
			if sum <= 0 || sum > r.TotalMs+0.5 {
				t.Errorf("failover phases add up to %.3f ms; want within the total %.3f ms", sum, r.TotalMs)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		var b bytes.Buffer
		if err := res.Table(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{
			"master bench (tiny)", "fsync OFF", "FIGURE", "RESULT",
			"write: RPC creates", "write: engine creates", "write: etcd put",
			"failover: revoke to first write (2 runs)", "replay:", "memory: 2,000 files", "restart to serving: 2,000 files", "chunk scan read",
			"RPC WRITERS",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		if n := strings.Count(out, "met (") + strings.Count(out, "MISSED ("); n != 5 {
			t.Errorf("table marks %d targets; want 5:\n%s", n, out)
		}
	})

	t.Run("plots", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		paths, err := WriteSVGs(dir, res)
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 2 {
			t.Fatalf("WriteSVGs wrote %v; want two plots", paths)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			parseSVG(t, b)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		ok     bool
	}{
		{"quick", func(*Options) {}, true},
		{"no writers", func(o *Options) { o.Writers = 0 }, false},
		{"no duration", func(o *Options) { o.WriteDuration = 0 }, false},
		{"no rounds", func(o *Options) { o.WriteRounds = 0 }, false},
		{"zero sweep level", func(o *Options) { o.SweepLevels = []int{0} }, false},
		{"sweep without duration", func(o *Options) { o.SweepDuration = 0 }, false},
		{"no sweep needs no duration", func(o *Options) { o.SweepLevels, o.SweepDuration = nil, 0 }, true},
		{"no failovers", func(o *Options) { o.Failovers = 0 }, false},
		{"no records", func(o *Options) { o.ReplayRecords = 0 }, false},
		{"no files", func(o *Options) { o.Files = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Quick()
			tt.change(&o)
			if err := o.validate(); (err == nil) != tt.ok {
				t.Errorf("validate() = %v; want ok %v", err, tt.ok)
			}
		})
	}
}

func TestPercentileMs(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	twenty := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7},
		{"median of four", ms(1, 2, 3, 4), 0.5, 2},
		{"p99 of twenty is the max", twenty, 0.99, 20},
		{"p95 of twenty", twenty, 0.95, 19},
		{"p50 of twenty", twenty, 0.5, 10},
	}
	for _, tt := range tests {
		if got := percentileMs(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: percentileMs(%v, %v) = %v; want %v", tt.name, tt.sorted, tt.p, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {45887.4, "45,887"}, {1_000_000, "1,000,000"}, {-12345, "-12,345"},
	}
	for _, tt := range tests {
		if got := thousands(tt.in); got != tt.want {
			t.Errorf("thousands(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
