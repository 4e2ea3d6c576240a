package benchsuite

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Curve plot file names inside the output directory.
const (
	CurveCreateSVG = "curve-create.svg"
	CurveStatSVG   = "curve-stat.svg"
)

// WriteCurveSVGs writes the create and stat curves of r into dir (made if
// missing) and returns their paths.
func WriteCurveSVGs(dir string, r *CurveResult) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("benchsuite: plots directory: %w", err)
	}
	var paths []string
	for _, p := range []struct {
		name, what, etcd string
		ours, theirs     func(CurvePoint) Figures
	}{
		{CurveCreateSVG, "creates", "etcd put", func(p CurvePoint) Figures { return p.Create }, func(p CurvePoint) Figures { return p.Put }},
		{CurveStatSVG, "linearizable stats", "etcd linearizable get", func(p CurvePoint) Figures { return p.Stat }, func(p CurvePoint) Figures { return p.Get }},
	} {
		var buf bytes.Buffer
		if err := CurvePlot(&buf, r.Points, p.what, p.etcd, p.ours, p.theirs); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, p.name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("benchsuite: write plot: %w", err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// CurvePlot draws two panels against C on a log2 axis: ops/s above, p99
// latency below, ours (solid) beside etcd's (dashed).
func CurvePlot(w io.Writer, points []CurvePoint, what, etcdName string, ours, theirs func(CurvePoint) Figures) error {
	const panelH, gap = 360.0, 90.0
	c := newCanvas(720, 60+panelH+gap+panelH+70, 90, 40, 60, 0)
	c.title(fmt.Sprintf("%s through the public client beside %s, by concurrency C", what, etcdName))
	c.subtitle("one client.Client shared by C goroutines; same embedded etcd, interleaved rounds")
	xmax := 0.0
	for _, p := range points {
		xmax = max(xmax, math.Log2(float64(p.C)))
	}
	if xmax == 0 {
		xmax = 1
	}
	c.xmax = math.Ceil(xmax)
	xlabel := func(v float64) string { return strconv.Itoa(int(math.Round(math.Exp2(v)))) }
	panels := []struct {
		name string
		val  func(Figures) float64
	}{
		{"ops/s", func(f Figures) float64 { return f.OpsPerS }},
		{"p99 latency (ms)", func(f Figures) float64 { return f.P99Ms }},
	}
	for i, pn := range panels {
		c.top = 60 + float64(i)*(panelH+gap)
		c.bottom = c.height - c.top - panelH
		ymax := 0.0
		for _, p := range points {
			ymax = max(ymax, pn.val(ours(p)), pn.val(theirs(p)))
		}
		ystep, ytop := niceScale(ymax * 1.1)
		c.ymax = ytop
		c.xAxis(1, "concurrent goroutines C (log scale)", xlabel)
		c.yAxis(ystep, pn.name)
		series := []struct {
			name, color, dash string
			f                 func(CurvePoint) Figures
		}{
			{"ours (" + what + ")", "#1f77b4", "", ours},
			{etcdName, "#ff7f0e", "5 4", theirs},
		}
		for _, s := range series {
			var xs, ys []float64
			for _, p := range points {
				xs = append(xs, c.px(math.Log2(float64(p.C))))
				ys = append(ys, c.py(pn.val(s.f(p))))
			}
			c.polyline(xs, ys, s.color, s.dash)
			for j, p := range points {
				c.circle(xs[j], ys[j], 4, s.color, fmt.Sprintf("C=%d %s: %s %s", p.C, s.name, trimFloat(math.Round(pn.val(s.f(p))*100)/100), pn.name))
			}
		}
		for k, s := range series {
			y := c.top + 14 + float64(k)*18
			c.line(c.left+12, y-4, c.left+36, y-4, s.color, s.dash)
			c.text(c.left+42, y, "start", 12, "#333", s.name)
		}
	}
	return c.writeTo(w)
}
