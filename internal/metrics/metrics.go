// Package metrics defines neutrino's Prometheus metrics: the server's
// (API requests, the change log the agents' stream follows, each watch
// stream's lag, agents alive and dead, database transaction retries) and
// the agents' (stream revision and lag, apply duration, entries by kind,
// audit differences, reconnects, device events). Nothing registers
// globally: every constructor takes the registry to register on, and
// Handler serves one registry.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process
// collectors, as a Prometheus client normally exposes.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
