package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ServerSource is what the server's scrape-time metrics read.
type ServerSource interface {
	// Revision is the change-log revision the agents' server has read.
	Revision() int64
	// WatcherLags is, per host with an open watch stream, how many
	// revisions its view is ahead of what the stream has sent.
	WatcherLags() map[string]int64
	// Retries counts database write transactions run again.
	Retries() int64
	// AgentCounts counts agents by type and liveness.
	AgentCounts(ctx context.Context) (alive, dead map[string]int, err error)
}

// Server is the server's request metrics; the rest is read from a
// ServerSource at scrape time.
type Server struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewServer registers the server's metrics on reg.
func NewServer(reg prometheus.Registerer, src ServerSource) *Server {
	m := &Server{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neutrino_api_requests_total", Help: "API requests by resource, verb (HTTP method) and status code.",
		}, []string{"resource", "verb", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "neutrino_api_request_duration_seconds", Help: "API request latency by resource and verb.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"resource", "verb"}),
	}
	reg.MustRegister(m.requests, m.duration, serverCollector{src: src})
	return m
}

// Observe counts and times one answered API request (api.Options.Observe:
// res is the resource label, bounded by the API server).
func (m *Server) Observe(method, res string, status int, took time.Duration) {
	m.requests.WithLabelValues(res, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(res, method).Observe(took.Seconds())
}

var (
	descRevision = prometheus.NewDesc("neutrino_changelog_head_revision",
		"Change-log revision the agents' server has read (the head it streams from).", nil, nil)
	descLag = prometheus.NewDesc("neutrino_watcher_lag_revisions",
		"Per open watch stream: revisions its host's view is ahead of what the stream has sent.", []string{"host"}, nil)
	descWatchers = prometheus.NewDesc("neutrino_watchers", "Open watch streams.", nil, nil)
	descRetries  = prometheus.NewDesc("neutrino_db_transaction_retries_total",
		"Database write transactions run again after a transient conflict.", nil, nil)
	descAgents = prometheus.NewDesc("neutrino_agents", "Agents by type and liveness (agent_down_time).", []string{"agent_type", "state"}, nil)
	descUp     = prometheus.NewDesc("neutrino_agents_scrape_ok", "1 if the agents could be counted at this scrape.", nil, nil)
)

// serverCollector reads the source at scrape time.
type serverCollector struct{ src ServerSource }

func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRevision, descLag, descWatchers, descRetries, descAgents, descUp} {
		ch <- d
	}
}

func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descRevision, prometheus.GaugeValue, float64(c.src.Revision()))
	lags := c.src.WatcherLags()
	ch <- prometheus.MustNewConstMetric(descWatchers, prometheus.GaugeValue, float64(len(lags)))
	for host, lag := range lags {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag), host)
	}
	ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(c.src.Retries()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alive, dead, err := c.src.AgentCounts(ctx)
	ok := 0.0
	if err == nil {
		ok = 1
		for t, n := range alive {
			ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(n), t, "alive")
		}
		for t, n := range dead {
			ch <- prometheus.MustNewConstMetric(descAgents, prometheus.GaugeValue, float64(n), t, "dead")
		}
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, ok)
}
