package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"neutrino/internal/dataplane"
)

// AgentSource is what an agent's scrape-time metrics read (*agent.Agent).
type AgentSource interface {
	// Revision is the revision of the desired state the agent holds;
	// AppliedRevision the last one applied to the data plane.
	Revision() int64
	AppliedRevision() int64
	Snapshots() int64
	Reconnects() int64
	DeviceWakes() int64
}

// Agent is one node agent's metrics.
type Agent struct {
	apply      prometheus.Histogram
	applyFails prometheus.Counter
	entries    *prometheus.GaugeVec
	audits     prometheus.Counter
	found      *prometheus.CounterVec
	repaired   prometheus.Counter
	lastAudit  prometheus.Gauge
}

// NewAgent registers an agent's metrics on reg.
func NewAgent(reg prometheus.Registerer, src AgentSource) *Agent {
	m := &Agent{
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "neutrino_agent_apply_duration_seconds", Help: "Duration of data plane applies.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		applyFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neutrino_agent_apply_failures_total", Help: "Data plane applies that returned an error."}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "neutrino_agent_entries", Help: "Forwarding objects the node must hold, by kind (tunnel, network, flood, unicast, arp, port), as of the last apply."},
			[]string{"kind"}),
		audits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neutrino_agent_audits_total", Help: "Audits: the data plane read back and compared with what it must hold."}),
		found: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "neutrino_agent_audit_differences_total", Help: "Differences audits found, by kind (missing, extra, wrong) and fact kind."},
			[]string{"difference", "kind"}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "neutrino_agent_audit_repaired_total", Help: "Differences the apply after an audit repaired."}),
		lastAudit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "neutrino_agent_last_audit_timestamp_seconds", Help: "When the last audit compared the data plane (Unix time)."}),
	}
	for _, k := range []dataplane.FactKind{dataplane.FactTunnel, dataplane.FactNetwork, dataplane.FactFlood, dataplane.FactUnicast, dataplane.FactARP, dataplane.FactPort} {
		m.entries.WithLabelValues(string(k))
		for _, d := range []string{"missing", "extra", "wrong"} {
			m.found.WithLabelValues(d, string(k))
		}
	}
	reg.MustRegister(m.apply, m.applyFails, m.entries, m.audits, m.found, m.repaired, m.lastAudit,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_agent_stream_revision", Help: "Revision of the desired state the agent holds (from its watch stream)."},
			func() float64 { return float64(src.Revision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_agent_applied_revision", Help: "Revision of the last state applied to the data plane."},
			func() float64 { return float64(src.AppliedRevision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "neutrino_agent_revision_lag", Help: "Revisions held but not yet applied to the data plane."},
			func() float64 { return float64(max(0, src.Revision()-src.AppliedRevision())) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "neutrino_agent_snapshots_total", Help: "Full snapshots received on the watch stream."},
			func() float64 { return float64(src.Snapshots()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "neutrino_agent_reconnects_total", Help: "Times the watch stream ended and was opened again."},
			func() float64 { return float64(src.Reconnects()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "neutrino_agent_device_events_total", Help: "Passes woken by a data plane device event (OVSDB monitor, netlink)."},
			func() float64 { return float64(src.DeviceWakes()) }),
	)
	return m
}

// Applied records one apply: its duration, whether it failed, and (when
// it succeeded) the entries of the state applied.
func (m *Agent) Applied(d time.Duration, err error, facts []dataplane.Fact) {
	m.apply.Observe(d.Seconds())
	if err != nil {
		m.applyFails.Inc()
		return
	}
	counts := map[dataplane.FactKind]int{}
	for _, f := range facts {
		counts[f.Kind]++
	}
	for _, k := range []dataplane.FactKind{dataplane.FactTunnel, dataplane.FactNetwork, dataplane.FactFlood, dataplane.FactUnicast, dataplane.FactARP, dataplane.FactPort} {
		m.entries.WithLabelValues(string(k)).Set(float64(counts[k]))
	}
}

// Audited records one audit.
func (m *Agent) Audited(at time.Time, found []dataplane.Difference, repaired int) {
	m.audits.Inc()
	m.lastAudit.Set(float64(at.UnixNano()) / 1e9)
	for _, d := range found {
		f := d.Want
		if f == nil {
			f = d.Held
		}
		m.found.WithLabelValues(d.Kind, string(f.Kind)).Inc()
	}
	m.repaired.Add(float64(repaired))
}
