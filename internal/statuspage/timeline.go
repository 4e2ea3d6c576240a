package statuspage

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	"github.com/gfsha/master/internal/cluster"
)

// timeline draws one horizontal bar per leadership change, split into its
// phases (detect where known, catch-up, first write), in the style of
// `master bench`'s failover timeline.
func timeline(hist []cluster.HistoryRecord) template.HTML {
	if len(hist) == 0 {
		return ""
	}
	type phase struct {
		name, color string
		ms          func(cluster.HistoryRecord) float64
	}
	phases := []phase{
		{"detect", "#4c78a8", func(h cluster.HistoryRecord) float64 {
			if h.Phases.DetectMs == nil {
				return 0
			}
			return *h.Phases.DetectMs
		}},
		{"catch-up", "#f58518", func(h cluster.HistoryRecord) float64 { return h.Phases.CatchUpMs }},
		{"first write", "#54a24b", func(h cluster.HistoryRecord) float64 { return h.Phases.FirstWriteMs }},
	}
	const width, left, right, top, band = 720.0, 190.0, 20.0, 30.0, 16.0
	xmax := 0.0
	for _, h := range hist {
		t := 0.0
		for _, p := range phases {
			t += p.ms(h)
		}
		xmax = max(xmax, t)
	}
	if xmax <= 0 {
		xmax = 1
	}
	height := top + band*float64(len(hist)) + 50
	px := func(v float64) float64 { return left + v/xmax*(width-left-right) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">`,
		width, height, width, height)
	fmt.Fprintf(&b, `<text x="%.0f" y="16" font-size="13" fill="#333">Leadership changes: phases in milliseconds (longest %.1f ms)</text>`, left, xmax)
	for i, h := range hist {
		y := top + float64(i)*band
		label := fmt.Sprintf("%s %s (%s)", h.Time.UTC().Format("15:04:05"), h.NewPrimary, h.Reason)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" font-size="11" text-anchor="end" fill="#333">%s</text>`, left-6, y+band*0.75, html.EscapeString(label))
		x := 0.0
		for _, p := range phases {
			d := p.ms(h)
			if d <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
				px(x), y+band*0.15, max(px(x+d)-px(x), 1), band*0.7, p.color,
				html.EscapeString(fmt.Sprintf("%s → %s: %s %.2f ms", h.Reason, h.NewPrimary, p.name, d)))
			x += d
		}
	}
	ly := height - 14
	lx := left
	for _, p := range phases {
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f" font-size="12" fill="#333">%s</text>`,
			lx, ly-10, p.color, lx+16, ly, p.name)
		lx += 30 + 7.5*float64(len(p.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
