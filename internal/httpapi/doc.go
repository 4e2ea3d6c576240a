// Package httpapi serves a master's operator endpoints:
//
//	GET /healthz   200 while the process runs its loops
//	GET /primary   200 only on the serving primary, else 503
//	GET /standby   200 only on a caught-up standby, else 503
//	GET /status    this member's entry of `ctl status`, as JSON
//	GET /metrics   Prometheus text format
//
// It reads the node; it changes nothing.
package httpapi
