package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gfsha/master/internal/cluster"
	"github.com/gfsha/master/internal/version"
)

// Member is what the endpoints read.
type Member interface {
	Serving() bool
	CaughtUp() bool
	Status() cluster.MemberStatus
}

// Handler returns the endpoints for m, with metrics from g.
func Handler(m Member, g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /primary", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, m.Serving(), "primary")
	})
	mux.HandleFunc("GET /standby", func(w http.ResponseWriter, _ *http.Request) {
		answer(w, m.CaughtUp(), "caught-up standby")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(m.Status())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	return mux
}

func answer(w http.ResponseWriter, ok bool, what string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not " + what + "\n"))
		return
	}
	w.Write([]byte(what + "\n"))
}

// Metrics are a master's Prometheus metrics; it implements node.Metrics.
type Metrics struct {
	Registry     *prometheus.Registry
	batchRecords prometheus.Histogram
	batchBytes   prometheus.Histogram
	commit       prometheus.Histogram
	promotions   prometheus.Counter
	catchUp      prometheus.Histogram
	firstWrite   prometheus.Histogram
	reads        readMetrics // read.go
}

// NewMetrics registers the master's metrics in a fresh registry, plus
// gauges that call status at scrape time.
func NewMetrics(status func() cluster.MemberStatus) *Metrics {
	r := prometheus.NewRegistry()
	x := &Metrics{
		Registry: r,
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gfsha_append_batch_records", Help: "Records per fenced transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gfsha_append_batch_bytes", Help: "Bytes per fenced transaction.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 9)}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gfsha_append_commit_seconds", Help: "Latency of one fenced transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		promotions: prometheus.NewCounter(prometheus.CounterOpts{Name: "gfsha_promotions_total", Help: "Times this member became primary."}),
		catchUp: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gfsha_failover_catch_up_seconds", Help: "From winning to caught up.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		firstWrite: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gfsha_failover_first_write_seconds", Help: "From caught up to first committed write.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	r.MustRegister(roleCollector{status: status}, x.batchRecords, x.batchBytes, x.commit, x.promotions, x.catchUp, x.firstWrite)
	x.reads.register(r)
	gauge := func(name, help string, f func(cluster.MemberStatus) float64) {
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(status()) }))
	}
	gauge("gfsha_applied_index", "Last log index applied to the state machine.", func(s cluster.MemberStatus) float64 { return float64(s.AppliedIndex) })
	gauge("gfsha_lag_entries", "Log entries fenced but not yet applied here.", func(s cluster.MemberStatus) float64 { return float64(s.LagEntries) })
	gauge("gfsha_lag_seconds", "Age of the oldest unapplied log entry.", func(s cluster.MemberStatus) float64 { return s.LagMs / 1000 })
	gauge("gfsha_token", "Fencing token held (0 unless primary).", func(s cluster.MemberStatus) float64 { return float64(s.Token) })
	gauge("gfsha_last_fenced_index", "Log head (last fenced index) as this member knows it.", func(s cluster.MemberStatus) float64 { return float64(s.LastFencedIndex) })
	gauge("gfsha_etcd_session_up", "1 while this member holds an etcd session (it can campaign or lead); 0 while etcd is unreachable.",
		func(s cluster.MemberStatus) float64 {
			if s.LeaseID == "" {
				return 0
			}
			return 1
		})
	gauge("gfsha_checkpoint_index", "Newest local checkpoint.", func(s cluster.MemberStatus) float64 { return float64(s.CheckpointIndex) })
	v := version.Get()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gfsha_build_info", Help: "Always 1; the labels say what this binary is."},
		[]string{"version", "commit", "build_date", "goversion", "etcd_client"})
	build.WithLabelValues(v.Version, v.Commit, v.BuildDate, v.GoVersion, v.EtcdClient).Set(1)
	r.MustRegister(build)
	r.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return x
}

// ChunkserversAttached adds the gauge of chunkservers registered with this
// master (0 unless it serves).
func (x *Metrics) ChunkserversAttached(n func() int) {
	x.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gfsha_chunkservers_attached", Help: "Chunkservers registered with this primary.",
	}, func() float64 { return float64(n()) }))
}

// ReplicationHealth adds the gauges of chunks with fewer current replicas
// than chunk.replication and of chunks with none, as the primary's last
// replica scan counted them (0 unless it serves).
func (x *Metrics) ReplicationHealth(f func() (under, missing int)) {
	x.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gfsha_chunks_under_replicated", Help: "Chunks with fewer current replicas than chunk.replication (at least one).",
	}, func() float64 { u, _ := f(); return float64(u) }))
	x.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gfsha_chunks_missing", Help: "Chunks with no live current replica.",
	}, func() float64 { _, m := f(); return float64(m) }))
}

// roleDesc: gfsha_role{role} is 1 for the role `ctl status` and /status
// show for this member (primary, standby or catching-up), 0 for the others.
var roleDesc = prometheus.NewDesc("gfsha_role", "1 for this member's current role, as /status and `ctl status` show it.", []string{"role"}, nil)

// roleCollector reads the role from status at scrape time, so the metric
// can never disagree with /status (a campaigning standby is "standby").
type roleCollector struct{ status func() cluster.MemberStatus }

func (c roleCollector) Describe(ch chan<- *prometheus.Desc) { ch <- roleDesc }

func (c roleCollector) Collect(ch chan<- prometheus.Metric) {
	role := c.status().Role
	for _, r := range []string{cluster.RolePrimary, cluster.RoleStandby, cluster.RoleCatchingUp, cluster.RoleDisconnected} {
		v := 0.0
		if r == role {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(roleDesc, prometheus.GaugeValue, v, r)
	}
}

// RoleChanged implements node.Metrics. The role gauge needs nothing from
// it: it is read from the status at scrape time.
func (x *Metrics) RoleChanged(string) {}

// BatchCommitted implements node.Metrics.
func (x *Metrics) BatchCommitted(records, bytes int, took time.Duration) {
	x.batchRecords.Observe(float64(records))
	x.batchBytes.Observe(float64(bytes))
	x.commit.Observe(took.Seconds())
}

// Promoted implements node.Metrics.
func (x *Metrics) Promoted(p cluster.Promotion) {
	x.promotions.Inc()
	x.catchUp.Observe(p.CatchUpMs / 1000)
	x.firstWrite.Observe(p.FirstWriteMs / 1000)
}
