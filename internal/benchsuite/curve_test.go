package benchsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCurveTiny runs the curve end to end at tiny sizes (fsync off): the
// shape of its result, table and plots, never its figures.
func TestCurveTiny(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	o := CurveOptions{Levels: []int{4, 1}, Rounds: 2, Duration: 60 * time.Millisecond, Warmup: 10 * time.Millisecond,
		NoFsync: true, Dir: t.TempDir(), Progress: &progress}
	res, err := Curve(ctx, o)
	if err != nil {
		t.Fatalf("Curve: %v\nprogress:\n%s", err, progress.String())
	}
	if len(res.Points) != 2 || res.Points[0].C != 1 || res.Points[1].C != 4 {
		t.Fatalf("points %+v; want C=1 then C=4", res.Points)
	}
	for _, p := range res.Points {
		for name, f := range map[string]Figures{"create": p.Create, "etcd put": p.Put, "stat": p.Stat, "etcd get": p.Get} {
			if f.Ops == 0 || f.OpsPerS <= 0 || f.P99Ms < f.P50Ms {
				t.Errorf("C=%d %s: %+v; want operations, a rate and p50 <= p99", p.C, name, f)
			}
		}
		if p.CreateX <= 0 || p.StatX <= 0 {
			t.Errorf("C=%d: ratios %v, %v; want positive", p.C, p.CreateX, p.StatX)
		}
	}
	if res.Points[0].CreateWant != 0.8 || res.Points[0].StatWant != 0.9 || res.Points[1].StatWant != 0 {
		t.Errorf("targets %+v; want issue 15's (0.8x and 0.9x at C=1, no stat target at C=4)", res.Points)
	}

	var tab bytes.Buffer
	if err := res.Table(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"create vs etcd put", "stat vs etcd get", ">= 0.8x", "fsync OFF"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Points []map[string]any `json:"points"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"c", "create", "etcd_put", "stat", "etcd_get", "create_x", "stat_x"} {
		if _, ok := got.Points[0][k]; !ok {
			t.Errorf("json point lacks %q: %s", k, b)
		}
	}

	paths, err := WriteCurveSVGs(t.TempDir(), res)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 {
		t.Fatalf("plots %v; want create and stat", paths)
	}
	for _, p := range paths {
		svg, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d := parseSVG(t, svg)
		if d.count["polyline"] != 4 {
			t.Errorf("%s: %d polylines; want 4 (ours and etcd's, ops/s and p99)", p, d.count["polyline"])
		}
		if !d.hasText("p99 latency (ms)") || !d.hasText("ops/s") {
			t.Errorf("%s: axis titles missing: %q", p, d.texts)
		}
	}
}

func TestCurveOptionsValidate(t *testing.T) {
	for _, o := range []CurveOptions{{}, {Levels: []int{1}}, {Levels: []int{0}, Rounds: 1, Duration: time.Second}} {
		if _, err := Curve(t.Context(), o); err == nil {
			t.Errorf("Curve(%+v) = nil error; want refused", o)
		}
	}
}
