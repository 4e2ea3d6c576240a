// Package monitoring holds the monitoring kit, not code: Prometheus alert
// rules (gfsha-alerts.yml, with promtool unit tests in
// gfsha-alerts_test.yml) and a Grafana dashboard (gfsha-dashboard.json).
// Its Go test checks them: promtool when it is installed (Debian package
// prometheus), and always that every metric they name is one a master
// exports and that the dashboard is well-formed JSON.
package monitoring
