// Package statuspage serves the HTML status page at `/` on http_listen:
// the cluster's members (role, token, applied index, lag, last checkpoint,
// tags, down members with when they were last seen), the chunkservers (on
// the primary's page; the others link to it), and the recent leadership
// changes as a timeline of their phases. The page is rendered on the server
// and refreshes itself every few seconds; it needs no JavaScript.
//
// It reads etcd (and each member's /status) on every request, so it is for
// people, not for monitoring systems: those scrape /metrics.
package statuspage

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/ctl"
)

// Chunkserver is one row of the chunkserver table.
type Chunkserver struct {
	ID, Address     string
	Token           int64
	LastHeartbeatMs float64
	Chunks          int
}

// Source is what the page shows.
type Source struct {
	Etcd    *clientv3.Client
	Cluster string
	Self    string // this member's node id
	// Chunkservers lists the chunkservers when this member is the serving
	// primary (ok false otherwise).
	Chunkservers func() (cs []Chunkserver, ok bool)
	// Refresh is the page's self-refresh interval (default 3 s).
	Refresh time.Duration
}

// maxHistory is how many leadership changes the timeline shows.
const maxHistory = 20

type page struct {
	Cluster      string
	Self         string
	Now          string
	Refresh      int
	Err          string
	Report       ctl.Report
	Warnings     []string
	Chunkservers []Chunkserver
	HasChunks    bool
	PrimaryHTTP  string
	History      []cluster.HistoryRecord
	Timeline     template.HTML
}

// Handler serves the page.
func Handler(src Source) http.Handler {
	refresh := src.Refresh
	if refresh <= 0 {
		refresh = 3 * time.Second
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		p := page{Cluster: src.Cluster, Self: src.Self, Now: time.Now().UTC().Format(time.RFC3339), Refresh: int(refresh / time.Second)}
		rep, err := ctl.Status(ctx, src.Etcd, src.Cluster)
		if err != nil {
			p.Err = "cannot read the cluster from etcd: " + err.Error()
		} else {
			p.Report, p.Warnings = rep, ctl.Warnings(rep)
			for _, m := range rep.Members {
				if m.NodeID == rep.Primary {
					p.PrimaryHTTP = m.HTTPAddress
				}
			}
		}
		if hist, err := ctl.History(ctx, src.Etcd, src.Cluster); err == nil {
			if len(hist) > maxHistory {
				hist = hist[len(hist)-maxHistory:]
			}
			p.History = hist
			p.Timeline = timeline(hist)
		}
		if src.Chunkservers != nil {
			p.Chunkservers, p.HasChunks = src.Chunkservers()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := tmpl.Execute(w, p); err != nil {
			fmt.Fprintf(w, "<p>render: %s</p>", template.HTMLEscapeString(err.Error()))
		}
	})
}

var funcs = template.FuncMap{
	"tags": func(t *cluster.Tags) string {
		if t == nil {
			return "-"
		}
		if t.NoFailover {
			return "nofailover"
		}
		return fmt.Sprintf("priority %d", t.FailoverPriority)
	},
	"ago": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return time.Since(*t).Round(time.Second).String() + " ago"
	},
	"ms": func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *p)
	},
	"when":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") },
	"lower": strings.ToLower,
}

var tmpl = template.Must(template.New("page").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>gfsha {{.Cluster}}: {{if .Report.Primary}}primary {{.Report.Primary}}{{else}}no primary{{end}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;font-size:.9em} th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
.role{font-weight:600;padding:.1em .5em;border-radius:.3em}
.primary{background:#d8f0d8;color:#145214} .standby{background:#e0ecf8;color:#123c66}
.catching-up{background:#fff0c8;color:#6b4e00} .down,.disconnected{background:#f8d8d8;color:#7a1212}
.warn{background:#fff4d6;border-left:4px solid #e0a000;padding:.4em .8em;margin:.3em 0}
.err{background:#f8d8d8;border-left:4px solid #c00;padding:.4em .8em}
.meta{color:#666;font-size:.85em}
</style></head><body>
<h1>gfsha cluster <code>{{.Cluster}}</code></h1>
<div class="meta">served by {{.Self}} at {{.Now}}; refreshes every {{.Refresh}} s</div>
{{if .Err}}<p class="err" id="error">{{.Err}}</p>{{end}}
<p id="summary">primary <b id="primary">{{if .Report.Primary}}{{.Report.Primary}}{{else}}none{{end}}</b>,
token <b>{{.Report.Token}}</b>, last fenced index <b>{{.Report.LastFencedIndex}}</b>,
shadow <b>{{if .Report.Shadow}}{{.Report.Shadow}}{{else}}none{{end}}</b>
(lag {{.Report.WALLagEntries}} entries / {{printf "%.1f" .Report.WALLagMs}} ms){{if .Report.Paused}}, <b>PAUSED</b> (no automatic failover){{end}}</p>
{{range .Warnings}}<div class="warn">{{.}}</div>{{end}}
<h2>Members</h2>
<table id="members"><tr><th>node</th><th>role</th><th>token</th><th>applied</th><th>lag</th><th>lag ms</th><th>checkpoint</th><th>tags</th><th>address</th><th>http</th><th>last seen</th></tr>
{{range .Report.Members}}<tr data-node="{{.NodeID}}"><td>{{.NodeID}}</td><td><span class="role {{.Role}}">{{.Role}}</span></td>
<td class="n">{{if .Token}}{{.Token}}{{end}}</td><td class="n">{{.AppliedIndex}}</td><td class="n">{{.LagEntries}}</td><td class="n">{{printf "%.1f" .LagMs}}</td>
<td class="n">{{.CheckpointIndex}}</td><td>{{tags .Tags}}</td><td>{{.Address}}</td>
<td>{{if .HTTPAddress}}<a href="http://{{.HTTPAddress}}/">{{.HTTPAddress}}</a>{{end}}</td><td>{{ago .LastSeen}}</td></tr>
{{end}}</table>
<h2>Chunkservers</h2>
{{if .HasChunks}}<table id="chunkservers"><tr><th>id</th><th>address</th><th>token</th><th>last heartbeat ms</th><th>chunks</th></tr>
{{range .Chunkservers}}<tr><td>{{.ID}}</td><td>{{.Address}}</td><td class="n">{{.Token}}</td><td class="n">{{printf "%.0f" .LastHeartbeatMs}}</td><td class="n">{{.Chunks}}</td></tr>
{{else}}<tr><td colspan="5">none registered</td></tr>{{end}}</table>
{{else}}<p>Only the primary knows the chunkservers{{if .PrimaryHTTP}}: see <a href="http://{{.PrimaryHTTP}}/">its page</a>{{end}}.</p>{{end}}
<h2>Leadership changes</h2>
{{if .History}}{{.Timeline}}
<table id="history"><tr><th>time (UTC)</th><th>new primary</th><th>reason</th><th>token</th><th>detect ms</th><th>catch-up ms</th><th>first write ms</th></tr>
{{range .History}}<tr><td>{{when .Time}}</td><td>{{.NewPrimary}}</td><td>{{.Reason}}</td><td class="n">{{.PreviousToken}} → {{.Token}}</td>
<td class="n">{{ms .Phases.DetectMs}}</td><td class="n">{{printf "%.1f" .Phases.CatchUpMs}}</td><td class="n">{{printf "%.1f" .Phases.FirstWriteMs}}</td></tr>
{{end}}</table>{{else}}<p>No leadership change recorded yet.</p>{{end}}
</body></html>
`))
