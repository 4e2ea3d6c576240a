package httpapi

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// readMetrics are the read path's metrics.
type readMetrics struct {
	served *prometheus.CounterVec
	wait   *prometheus.HistogramVec
}

func (m *readMetrics) register(r *prometheus.Registry) {
	m.served = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gfsha_reads_served_total",
		Help: "Reads (Stat, List) this member answered, by consistency."}, []string{"consistency"})
	m.wait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gfsha_read_wait_seconds",
		Help:    "Time a read waited before it could be answered (the head read and the catch-up), by consistency.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18)}, []string{"consistency"})
	r.MustRegister(m.served, m.wait)
}

// ReadServed implements node.ReadMetrics.
func (x *Metrics) ReadServed(consistency string, wait time.Duration) {
	x.reads.served.WithLabelValues(consistency).Inc()
	x.reads.wait.WithLabelValues(consistency).Observe(wait.Seconds())
}
