package main

import (
	"math"
	"time"
)

// Results is everything one compare run measured; it is written as JSON so
// the table and plot can be re-rendered (`compare report results.json`).
type Results struct {
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished"`
	Command  string         `json:"command"`
	Machine  Machine        `json:"machine"`
	Settings Settings       `json:"settings"`
	Systems  []SystemResult `json:"systems"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU            string  `json:"cpu"`
	Cores          int     `json:"cores"`
	MemGiB         float64 `json:"mem_gib"`
	Kernel         string  `json:"kernel"`
	Load1          string  `json:"loadavg_at_start"`
	NeutronVersion string  `json:"neutron_version"`
	NeutrinoCommit string  `json:"neutrino_commit"`
	GoVersion      string  `json:"go_version"`
}

// Settings are the workload's knobs.
type Settings struct {
	Quick       bool   `json:"quick"`
	Runs        int    `json:"runs"`
	Duration    string `json:"duration_per_level"`
	Concurrency []int  `json:"concurrency"`
	NetSubPairs int    `json:"network_subnet_pairs"`
	ListSizes   []int  `json:"list_sizes"`
	ListRepeats int    `json:"list_repeats"`
	BindHost    string `json:"bind_host"`
}

// SystemResult is one server (Neutron, or neutrino on one database).
type SystemResult struct {
	Name        string          `json:"name"`
	Label       string          `json:"label"`
	Error       string          `json:"error,omitempty"`
	StartupS    float64         `json:"startup_s"`
	Runs        []RunResult     `json:"runs"`
	Lists       []ListResult    `json:"lists"`
	ListFixture string          `json:"list_fixture"`
	Mem         Memory          `json:"memory"`
	Converge    *ConvergeResult `json:"convergence,omitempty"`
	AgentNote   string          `json:"agent_note,omitempty"`
}

// RunResult is one repetition of the timed phases.
type RunResult struct {
	NetSub   PhaseResult   `json:"network_subnet"`
	Create   []PhaseResult `json:"port_create"`
	Bind     *PhaseResult  `json:"port_create_bound,omitempty"`
	BindNote string        `json:"bind_note,omitempty"`
}

// ListResult is GET /v2.0/ports?network_id=<net holding Ports ports>.
type ListResult struct {
	Ports    int       `json:"ports"`
	Listed   int       `json:"listed"`
	Bytes    int       `json:"bytes"`
	SamplesS []float64 `json:"samples_s"`
	MedianS  float64   `json:"median_s"`
}

// Memory of the server's processes (all of Neutron's workers summed).
type Memory struct {
	Procs     int   `json:"procs"`
	RSSPeakKB int64 `json:"rss_peak_kb"`
	RSSEndKB  int64 `json:"rss_end_kb"`
	PSSEndKB  int64 `json:"pss_end_kb"`
	// RabbitMQKB is the RSS of the RabbitMQ node Neutron needs (not in RSS*).
	RabbitMQKB int64 `json:"rabbitmq_rss_kb,omitempty"`
}

// ConvergeResult: a port plugged on node 1 -> ACTIVE in the API -> its
// unicast forwarding entry on node 2 (medians over the samples).
type ConvergeResult struct {
	Error         string           `json:"error,omitempty"`
	Samples       []ConvergeSample `json:"samples"`
	PlugToActiveS float64          `json:"median_plug_to_active_s"`
	ActiveToFDBS  float64          `json:"median_active_to_fdb_s"`
	PlugToFDBS    float64          `json:"median_plug_to_fdb_s"`
}

// NewConvergeResult computes the medians; ACTIVE -> entry is taken per port.
func NewConvergeResult(samples []ConvergeSample) *ConvergeResult {
	r := &ConvergeResult{Samples: samples}
	var a, d, f []float64
	for _, s := range samples {
		a, d, f = append(a, s.ActiveS), append(d, s.FDBS-s.ActiveS), append(f, s.FDBS)
	}
	r.PlugToActiveS, r.ActiveToFDBS, r.PlugToFDBS = Median(a), Median(d), Median(f)
	return r
}

// median over runs of f(run); NaN when no run has the value.
func (s SystemResult) median(f func(RunResult) (float64, bool)) float64 {
	var v []float64
	for _, r := range s.Runs {
		if x, ok := f(r); ok {
			v = append(v, x)
		}
	}
	return Median(v)
}

// createAt returns the port-create phase at concurrency c of run r.
func createAt(r RunResult, c int) (PhaseResult, bool) {
	for _, p := range r.Create {
		if p.Concurrency == c && p.OK > 0 {
			return p, true
		}
	}
	return PhaseResult{}, false
}

func (s SystemResult) list(n int) float64 {
	for _, l := range s.Lists {
		if l.Ports == n && l.Listed == n {
			return l.MedianS
		}
	}
	return math.NaN()
}
