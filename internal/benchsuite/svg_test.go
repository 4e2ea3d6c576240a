package benchsuite

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// svgDoc is what a plot's XML holds: element counts and all text.
type svgDoc struct {
	root  xml.StartElement
	count map[string]int
	texts []string // of <text> elements
	tips  []string // of <title> elements (hover text)
}

// parseSVG checks that b is well-formed XML with an <svg> root in the SVG
// namespace, and returns what it holds.
func parseSVG(t *testing.T, b []byte) svgDoc {
	t.Helper()
	d := svgDoc{count: map[string]int{}}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && d.root.Name.Local == "" {
				d.root = tok.Copy()
			}
			stack = append(stack, tok.Name.Local)
			d.count[tok.Name.Local]++
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "text":
				d.texts = append(d.texts, string(tok))
			case "title":
				d.tips = append(d.tips, string(tok))
			}
		}
	}
	if d.root.Name.Local != "svg" || d.root.Name.Space != "http://www.w3.org/2000/svg" {
		t.Fatalf("root element = %v; want svg in the SVG namespace", d.root.Name)
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	return d
}

func (d svgDoc) hasText(sub string) bool {
	for _, s := range d.texts {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestFailoverTimelineSVG(t *testing.T) {
	runs := []FailoverRun{
		{TotalMs: 5, RevokeToWonMs: 1.5, CatchUpMs: 2, FirstWriteMs: 0.7, AckMs: 0.8},
		{TotalMs: 9.5, RevokeToWonMs: 2, CatchUpMs: 5, FirstWriteMs: 1, AckMs: 1.5},
		{TotalMs: 3, RevokeToWonMs: 1, CatchUpMs: 0, FirstWriteMs: 1, AckMs: 1}, // a phase of 0 draws nothing
	}
	var b bytes.Buffer
	if err := FailoverTimeline(&b, runs); err != nil {
		t.Fatal(err)
	}
	d := parseSVG(t, b.Bytes())
	// 4 + 4 + 3 phase segments, 4 legend swatches, the background.
	if got, want := d.count["rect"], 11+4+1; got != want {
		t.Errorf("rect elements = %d; want %d", got, want)
	}
	if got, want := len(d.tips), 11; got != want {
		t.Errorf("hover titles = %d; want one per segment, %d", got, want)
	}
	for _, want := range []string{"Failover timeline", "(3 runs)", "milliseconds since the revoke", "run",
		"revoke → won", "catch-up", "first write", "client write ack", "p99 9.5 ms", "10"} {
		if !d.hasText(want) {
			t.Errorf("no text %q in %q", want, d.texts)
		}
	}
	if d.count["line"] < 5 {
		t.Errorf("line elements = %d; want axes, ticks and the p99 marker", d.count["line"])
	}
}

func TestThroughputLatencySVG(t *testing.T) {
	points := []SweepPoint{
		{Writers: 64, OpsPerS: 9000, P50Ms: 4, P99Ms: 40},
		{Writers: 16, OpsPerS: 3000, P50Ms: 3, P99Ms: 30},
		{Writers: 1024, OpsPerS: 45000, P50Ms: 20, P99Ms: 200},
	}
	var b bytes.Buffer
	if err := ThroughputLatency(&b, points); err != nil {
		t.Fatal(err)
	}
	d := parseSVG(t, b.Bytes())
	if got := d.count["polyline"]; got != 2 {
		t.Errorf("polyline elements = %d; want 2 (p50, p99)", got)
	}
	if got := d.count["circle"]; got != 6 {
		t.Errorf("circle elements = %d; want one per point and series, 6", got)
	}
	for _, want := range []string{"throughput against latency", "16 writers", "64 writers", "1024 writers",
		"acknowledged creates per second", "latency (ms)", "p99 latency", "p50 latency", "50,000", "200"} {
		if !d.hasText(want) {
			t.Errorf("no text %q in %q", want, d.texts)
		}
	}
	// Points join in order of concurrency, whatever order they came in.
	i16, i64, i1024 := strings.Index(b.String(), "16 writers:"), strings.Index(b.String(), "64 writers:"), strings.Index(b.String(), "1024 writers:")
	if !(i16 < i64 && i64 < i1024) {
		t.Errorf("points not in order of writers: offsets %d, %d, %d", i16, i64, i1024)
	}
}

func TestEmptyPlotsAreWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := FailoverTimeline(&b, nil); err != nil {
		t.Fatal(err)
	}
	parseSVG(t, b.Bytes())
	b.Reset()
	if err := ThroughputLatency(&b, nil); err != nil {
		t.Fatal(err)
	}
	parseSVG(t, b.Bytes())
}

func TestNiceScale(t *testing.T) {
	tests := []struct {
		max, step, top float64
	}{
		{0, 1, 1},
		{9.5, 2, 10},
		{10, 2, 10},
		{48.6, 10, 50},
		{216.5, 50, 250},
		{45000, 10000, 50000},
		{3, 1, 3},
	}
	for _, tt := range tests {
		step, top := niceScale(tt.max)
		if step != tt.step || top != tt.top {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.max, step, top, tt.step, tt.top)
		}
	}
}
