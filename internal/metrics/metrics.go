// Package metrics defines neutrino's Prometheus metrics: the server's
// (API requests, the change log the agents' stream follows, each watch
// stream's lag, agents alive and dead, database transaction retries) and
// the agents' (stream revision and lag, apply duration, entries by kind,
// audit differences, reconnects, device events). Nothing registers
// globally: every constructor takes the registry to register on, and
// Handler serves one registry.
package metrics

//
// The package imports no collectors subpackage: that one pulls in
// database/sql, and the agent (which imports this) must not. The binary
// adds the Go runtime and process collectors (cmd/neutrino).
import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
