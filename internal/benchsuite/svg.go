package benchsuite

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Plot file names inside the output directory.
const (
	FailoverSVG   = "failover-timeline.svg"
	ThroughputSVG = "throughput-latency.svg"
)

// WriteSVGs writes the failover timeline and the throughput-latency plot of
// r into dir (made if missing) and returns their paths.
func WriteSVGs(dir string, r *Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("benchsuite: plots directory: %w", err)
	}
	plots := []struct {
		name string
		draw func(io.Writer) error
	}{
		{FailoverSVG, func(w io.Writer) error { return FailoverTimeline(w, r.Failover.Timeline) }},
		{ThroughputSVG, func(w io.Writer) error { return ThroughputLatency(w, r.Sweep) }},
	}
	var paths []string
	for _, p := range plots {
		var buf bytes.Buffer
		if err := p.draw(&buf); err != nil {
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

// phase is one segment of a failover bar.
type phase struct {
	name  string
	color string
	ms    func(FailoverRun) float64
}

var phases = []phase{
	{"revoke → won", "#4c78a8", func(r FailoverRun) float64 { return r.RevokeToWonMs }},
	{"catch-up", "#f58518", func(r FailoverRun) float64 { return r.CatchUpMs }},
	{"first write (no-op)", "#54a24b", func(r FailoverRun) float64 { return r.FirstWriteMs }},
	{"client write ack", "#b279a2", func(r FailoverRun) float64 { return r.AckMs }},
}

// FailoverTimeline draws one horizontal bar per failover, split into its
// phases, with the p99 of the totals marked.
func FailoverTimeline(w io.Writer, runs []FailoverRun) error {
	bandH := 14.0
	if len(runs) > 40 {
		bandH = max(4, 560/float64(len(runs)))
	}
	areaH := max(120, bandH*float64(len(runs)))
	c := newCanvas(720, 70+areaH+80, 70, 20, 70, 80)
	xmax, totals := 0.0, make([]float64, 0, len(runs))
	for _, r := range runs {
		xmax = max(xmax, r.TotalMs)
		totals = append(totals, r.TotalMs)
	}
	xstep, xtop := niceScale(xmax)
	c.xmax, c.ymax = xtop, float64(max(len(runs), 1))
	c.title(fmt.Sprintf("Failover timeline: revoke to first acknowledged write (%d runs)", len(runs)))
	if len(totals) > 0 {
		sorted := slices.Sorted(slices.Values(totals))
		c.subtitle(fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms; target p99 ≤ %g ms",
			pct(sorted, 0.5), pct(sorted, 0.99), sorted[len(sorted)-1], TargetFailoverP99Ms))
	}
	c.xAxis(xstep, "milliseconds since the revoke", func(v float64) string { return trimFloat(v) })
	// Runs count down the y axis, first at the top.
	labelEvery := max(1, int(math.Ceil(float64(len(runs))/20)))
	c.line(c.left, c.top, c.left, c.top+c.areaH(), "#333", "")
	for i, r := range runs {
		y := c.top + float64(i)*bandH
		if i%labelEvery == 0 || i == len(runs)-1 {
			c.text(c.left-6, y+bandH/2+4, "end", 11, "#333", strconv.Itoa(i+1))
		}
		x := 0.0
		for _, p := range phases {
			d := p.ms(r)
			if d <= 0 {
				continue
			}
			c.rect(c.px(x), y+bandH*0.15, c.px(x+d)-c.px(x), bandH*0.7, p.color,
				fmt.Sprintf("run %d: %s %.2f ms (total %.2f ms)", i+1, p.name, d, r.TotalMs))
			x += d
		}
	}
	c.textRotated(18, c.top+c.areaH()/2, 12, "run")
	if len(totals) > 0 {
		p99 := pct(slices.Sorted(slices.Values(totals)), 0.99)
		x := c.px(p99)
		c.line(x, c.top, x, c.top+c.areaH(), "#d62728", "4 3")
		label := fmt.Sprintf("p99 %.1f ms", p99)
		if x > c.left+0.8*c.areaW() {
			c.text(x-4, c.top-6, "end", 11, "#d62728", label)
		} else {
			c.text(x+4, c.top-6, "start", 11, "#d62728", label)
		}
	}
	// Legend, below the axis title.
	lx := c.left
	for _, p := range phases {
		ly := c.height - 18
		c.rect(lx, ly-10, 12, 12, p.color, "")
		c.text(lx+16, ly, "start", 12, "#333", p.name)
		lx += 30 + 7.5*float64(len([]rune(p.name)))
	}
	return c.writeTo(w)
}

// ThroughputLatency draws the RPC write rate (x) against its p99 and p50
// latency (y), each point labelled with its number of writers.
func ThroughputLatency(w io.Writer, points []SweepPoint) error {
	pts := slices.Clone(points)
	slices.SortFunc(pts, func(a, b SweepPoint) int { return a.Writers - b.Writers })
	c := newCanvas(720, 480, 80, 40, 60, 80)
	xmax, ymax := 0.0, 0.0
	for _, p := range pts {
		xmax, ymax = max(xmax, p.OpsPerS), max(ymax, p.P99Ms)
	}
	xstep, xtop := niceScale(xmax * 1.08)
	ystep, ytop := niceScale(ymax * 1.1)
	c.xmax, c.ymax = xtop, ytop
	c.title("RPC creates: throughput against latency, by concurrent writers")
	c.subtitle("public client over gRPC, one master, embedded etcd")
	c.xAxis(xstep, "acknowledged creates per second", func(v float64) string { return thousands(v) })
	c.yAxis(ystep, "latency (ms)")
	series := []struct {
		name, color, dash string
		ms                func(SweepPoint) float64
		labels            bool
	}{
		{"p50", "#9ecae9", "5 4", func(p SweepPoint) float64 { return p.P50Ms }, false},
		{"p99", "#1f77b4", "", func(p SweepPoint) float64 { return p.P99Ms }, true},
	}
	for _, s := range series {
		var xs, ys []float64
		for _, p := range pts {
			xs, ys = append(xs, c.px(p.OpsPerS)), append(ys, c.py(s.ms(p)))
		}
		c.polyline(xs, ys, s.color, s.dash)
		for i, p := range pts {
			c.circle(xs[i], ys[i], 4, s.color,
				fmt.Sprintf("%d writers: %s ops/s, %s %.2f ms", p.Writers, thousands(p.OpsPerS), s.name, s.ms(p)))
			if s.labels {
				label := fmt.Sprintf("%d writers", p.Writers)
				if xs[i] > c.left+0.85*c.areaW() {
					c.text(xs[i]-7, ys[i]-7, "end", 11, "#333", label)
				} else {
					c.text(xs[i]+7, ys[i]-7, "start", 11, "#333", label)
				}
			}
		}
	}
	// Legend, top left inside the plot.
	for i, s := range series {
		y := c.top + 14 + float64(i)*18
		c.line(c.left+12, y-4, c.left+36, y-4, s.color, s.dash)
		c.text(c.left+42, y, "start", 12, "#333", s.name+" latency")
	}
	return c.writeTo(w)
}

// canvas is an SVG document with one plot area inside margins.
type canvas struct {
	buf                      bytes.Buffer
	width, height            float64
	left, right, top, bottom float64
	xmax, ymax               float64
}

func newCanvas(width, height, left, right, top, bottom float64) *canvas {
	c := &canvas{width: width, height: height, left: left, right: right, top: top, bottom: bottom}
	fmt.Fprintf(&c.buf, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&c.buf, `<rect x="0" y="0" width="%.0f" height="%.0f" fill="#ffffff"/>`+"\n", width, height)
	return c
}

func (c *canvas) areaW() float64 { return c.width - c.left - c.right }
func (c *canvas) areaH() float64 { return c.height - c.top - c.bottom }

// px and py map data to canvas coordinates.
func (c *canvas) px(v float64) float64 { return c.left + v/c.xmax*c.areaW() }
func (c *canvas) py(v float64) float64 { return c.top + c.areaH() - v/c.ymax*c.areaH() }

func (c *canvas) title(s string) {
	c.text(c.width/2, 24, "middle", 15, "#111", s)
}

func (c *canvas) subtitle(s string) {
	c.text(c.width/2, 42, "middle", 12, "#555", s)
}

// pct is the nearest-rank percentile of sorted values.
func pct(sorted []float64, p float64) float64 {
	return sorted[max(0, int(math.Ceil(p*float64(len(sorted))))-1)]
}

// xAxis draws the bottom axis with ticks every step, labels and a title.
func (c *canvas) xAxis(step float64, name string, label func(float64) string) {
	y := c.top + c.areaH()
	c.line(c.left, y, c.left+c.areaW(), y, "#333", "")
	for v := 0.0; v <= c.xmax+step/1e6; v += step {
		x := c.px(v)
		c.line(x, c.top, x, y, "#e5e5e5", "")
		c.line(x, y, x, y+5, "#333", "")
		c.text(x, y+18, "middle", 11, "#333", label(v))
	}
	c.text(c.left+c.areaW()/2, y+38, "middle", 12, "#333", name)
}

// yAxis draws the left axis with ticks every step, labels and a title.
func (c *canvas) yAxis(step float64, name string) {
	c.line(c.left, c.top, c.left, c.top+c.areaH(), "#333", "")
	for v := 0.0; v <= c.ymax+step/1e6; v += step {
		y := c.py(v)
		c.line(c.left, y, c.left+c.areaW(), y, "#e5e5e5", "")
		c.line(c.left-5, y, c.left, y, "#333", "")
		c.text(c.left-8, y+4, "end", 11, "#333", trimFloat(v))
	}
	c.textRotated(20, c.top+c.areaH()/2, 12, name)
}

func (c *canvas) line(x1, y1, x2, y2 float64, color, dash string) {
	fmt.Fprintf(&c.buf, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"%s/>`+"\n",
		x1, y1, x2, y2, color, dashAttr(dash))
}

func (c *canvas) polyline(xs, ys []float64, color, dash string) {
	var pts bytes.Buffer
	for i := range xs {
		fmt.Fprintf(&pts, "%.1f,%.1f ", xs[i], ys[i])
	}
	fmt.Fprintf(&c.buf, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n",
		bytes.TrimSpace(pts.Bytes()), color, dashAttr(dash))
}

// rect draws a filled rectangle, with tip as its hover text if set.
func (c *canvas) rect(x, y, w, h float64, color, tip string) {
	fmt.Fprintf(&c.buf, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">%s</rect>`+"\n",
		x, y, max(w, 0.5), h, color, tipElem(tip))
}

func (c *canvas) circle(x, y, r float64, color, tip string) {
	fmt.Fprintf(&c.buf, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s">%s</circle>`+"\n", x, y, r, color, tipElem(tip))
}

func (c *canvas) text(x, y float64, anchor string, size float64, color, s string) {
	fmt.Fprintf(&c.buf, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%.0f" fill="%s">%s</text>`+"\n",
		x, y, anchor, size, color, html.EscapeString(s))
}

func (c *canvas) textRotated(x, y, size float64, s string) {
	fmt.Fprintf(&c.buf, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%.0f" fill="#333" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		x, y, size, x, y, html.EscapeString(s))
}

func (c *canvas) writeTo(w io.Writer) error {
	c.buf.WriteString("</svg>\n")
	_, err := w.Write(c.buf.Bytes())
	return err
}

func dashAttr(dash string) string {
	if dash == "" {
		return ""
	}
	return ` stroke-dasharray="` + dash + `"`
}

func tipElem(tip string) string {
	if tip == "" {
		return ""
	}
	return "<title>" + html.EscapeString(tip) + "</title>"
}

// niceScale returns a tick step of 1, 2 or 5 times a power of ten giving
// about five ticks up to max, and the axis end: the first tick at or above
// max.
func niceScale(maxV float64) (step, top float64) {
	if maxV <= 0 || math.IsNaN(maxV) || math.IsInf(maxV, 0) {
		return 1, 1
	}
	raw := maxV / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch norm := raw / mag; {
	case norm <= 1:
		step = mag
	case norm <= 2:
		step = 2 * mag
	case norm <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	return step, math.Ceil(maxV/step-1e-9) * step
}

// trimFloat formats a tick value without needless decimals.
func trimFloat(v float64) string {
	if math.Abs(v-math.Round(v)) < 1e-9 {
		return thousands(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
