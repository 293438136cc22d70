package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"
)

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// setupVMs creates the stable networks, the burst network and the probe
// pairs: two VMs on different nodes each (Linux bridge with OVS, and
// each kind with itself), whose ports the workload never touches.
func (h *harness) setupVMs(ctx context.Context) error {
	w, nodes := h.w, h.c.nodes
	var stable []*tnet
	for i := 0; i < 2; i++ {
		t, err := w.createNet(ctx, fmt.Sprintf("10.%d.0.0/24", 10+i))
		if err != nil {
			return err
		}
		stable = append(stable, t)
	}
	b, err := w.createNet(ctx, "10.99.0.0/16")
	if err != nil {
		return err
	}
	w.burstNet = b
	if err := w.setupRouter(ctx); err != nil {
		return err
	}
	if err := w.setupSecurity(ctx); err != nil {
		return err
	}
	for _, t := range stable {
		if err := w.attach(ctx, t); err != nil {
			return err
		}
	}
	pairs := [][2]int{{0, 3}, {1, 4}, {2, 5}, {0, 2}, {1, 5}}
	var vms [][2]*vm
	for i, pr := range pairs {
		t := stable[i%2]
		var vs [2]*vm
		for j, ni := range pr {
			v, err := w.boot(ctx, t, nodes[ni%len(nodes)], true)
			if err != nil {
				return fmt.Errorf("stable vm: %w", err)
			}
			w.stable = append(w.stable, v)
			vs[j] = v
		}
		vms = append(vms, vs)
		h.addProbe(vs[0], vs[1], "")
	}
	// Through the router (on the L3 agent's node): from a VM on one
	// stable network to a VM on the other, each on a node without the
	// router; and from the outside to a VM's floating IP.
	l3 := h.c.l3Node().Name
	h.addProbe(vms[2][0], vms[1][0], " (routed)", l3)
	h.addProbe(vms[4][1], vms[1][1], " (routed)", l3)
	fv := vms[0][1]
	if err := w.floatingIP(ctx, fv); err != nil {
		return err
	}
	h.probes = append(h.probes, newProber("outside->"+fv.node.Name+" (floating IP)", h.c.outside.NS, floatingIP,
		uint16(0x4e00+len(h.probes)), probeInterval, l3, fv.node.Name))
	// The controls: from a controller to every node's VTEP address.
	for _, n := range nodes {
		p := newProber("control "+h.c.servers[0].name+"->"+n.Name, h.c.servers[0].ns, n.IP(), uint16(0x4e00+len(h.probes)), probeInterval, n.Name)
		p.control = true
		h.probes = append(h.probes, p)
	}
	return nil
}

const probeInterval = 50 * time.Millisecond

// addProbe adds a prober from VM a to VM b (through the nodes via).
func (h *harness) addProbe(a, b *vm, note string, via ...string) {
	name := fmt.Sprintf("%s->%s%s", a.node.Name, b.node.Name, note)
	h.probes = append(h.probes, newProber(name, a.ns, b.addr.Addr(), uint16(0x4e00+len(h.probes)), probeInterval,
		append([]string{a.node.Name, b.node.Name}, via...)...))
}

// report is the run's figures.
type report struct {
	Seed   uint64         `json:"seed"`
	DB     string         `json:"database"`
	Faults map[string]int `json:"faults_by_kind"`
	Total  int            `json:"faults_total"`
	// Failures are faults whose differences outlasted the bound (goal 0),
	// with the entries named.
	Failures []fault `json:"failures"`
	// Outages are the runs of outageRun or more lost echoes of one pair
	// that began during a fault of a kind judged for loss (lossless),
	// each named; goalsMissed judges them against the noise floor.
	Outages []outage `json:"outages,omitempty"`
	// Quiet are the runs of outageRun or more lost echoes of one pair
	// that began while no fault was under way (or before the first,
	// while the deployment converged at setup), each named with what was
	// happening then; not judged, but they set the noise floor.
	Quiet    []outage               `json:"quiet_runs,omitempty"`
	Converge map[string]percentiles `json:"converge_seconds_by_kind"`
	// Audit is how long one audit of every node took (the convergence
	// checks poll it: the resolution of the converge figures).
	Audit percentiles           `json:"audit_seconds"`
	Loss  map[string]*probeLoss `json:"probe_loss_by_kind"`
	// ControlLoss is the control probes' (controller to VTEP) loss.
	ControlLoss map[string]*probeLoss     `json:"control_loss_by_kind"`
	API         map[string]map[string]int `json:"api_failed_attempts"`
	APICalls    int                       `json:"api_calls"`
	Ops         map[string]int            `json:"workload_ops"`
	WorkErrs    []string                  `json:"workload_errors"`
	// Final lists what was still not converged at the end; Integrity
	// what the database holds twice or half.
	Final     []string `json:"final_differences"`
	Integrity []string `json:"integrity_problems"`
	// Leaks are processes orphaned during the run, VM namespaces of no
	// VM, and whatever was left after the teardown.
	Leaks   []string `json:"leaks"`
	Elapsed string   `json:"elapsed"`
	Load    string   `json:"loadavg_at_end"`
	// Error is why the run stopped early ("" when it ran to the end).
	Error string `json:"error,omitempty"`
	// Dir holds the configs and every process's log.
	Dir string `json:"run_directory"`

	conv   map[string][]time.Duration
	audits []time.Duration
}

type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// betweenFaults is the loss row of echoes sent while no fault was under
// way; setupKind that of echoes sent while the deployment converged
// before the first fault (the pairs' first echoes cross nodes that are
// still programming their ports: not the machine's noise).
const (
	betweenFaults = "between faults"
	setupKind     = "setup"
)

type probeLoss struct {
	Sent int `json:"sent"`
	Lost int `json:"lost"`
	// MaxRun is the longest run of consecutive lost echoes of one pair
	// (50 ms apart) that lies mostly in this row's windows (echoes sent
	// just before a crash are lost with it: the run is the crash's, not
	// noise between faults): an outage, where a lone loss is noise of a
	// loaded machine (see betweenFaults).
	MaxRun int `json:"max_consecutive_lost"`
}

func (l *probeLoss) maxRun() int {
	if l == nil {
		return 0
	}
	return l.MaxRun
}

// outageRun is the shortest run of lost echoes that counts as an outage
// (150 ms at the 50 ms probe interval).
const outageRun = 3

// outageFloor is the shortest run of lost echoes during a fault that
// counts as an outage in this run: outageRun, or one more than the
// longest run lost between faults, when nothing was being injected (the
// noise of the machine itself, measured in the same run: on 2 shared
// cores at load 20 the userspace datapaths drop a few echoes in a row).
func (r *report) outageFloor() int {
	if l := r.Loss[betweenFaults]; l != nil && l.MaxRun >= outageRun {
		return l.MaxRun + 1
	}
	return outageRun
}

func newReport(seed uint64, db string) *report {
	return &report{Seed: seed, DB: db, Faults: map[string]int{}, Converge: map[string]percentiles{}, Loss: map[string]*probeLoss{}, ControlLoss: map[string]*probeLoss{},
		conv: map[string][]time.Duration{}}
}

// audited records one audit's duration.
func (r *report) audited(d time.Duration) {
	r.audits = append(r.audits, d)
}

// percentilesOf is p50, p99 and max of ds (nearest rank).
func percentilesOf(ds []time.Duration) percentiles {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	pick := func(q float64) float64 {
		i := int(q*float64(len(ds)) + 0.5)
		return ds[min(max(i-1, 0), len(ds)-1)].Seconds()
	}
	return percentiles{N: len(ds), P50: pick(0.5), P99: pick(0.99), Max: ds[len(ds)-1].Seconds()}
}

func (r *report) add(f *fault) {
	r.Faults[f.Kind]++
	r.Total++
	if len(f.Failed) > 0 {
		r.Failures = append(r.Failures, *f)
		return
	}
	r.conv[f.Kind] = append(r.conv[f.Kind], f.Conv)
	r.Converge[f.Kind] = percentilesOf(r.conv[f.Kind])
}

// outage is one run of consecutive lost echoes of a pair.
type outage struct {
	Pair  string    `json:"pair"`
	Fault int       `json:"fault"` // the fault's number
	Kind  string    `json:"kind"`
	Start time.Time `json:"start"` // send time of the first lost echo
	Lost  int       `json:"lost"`
	// Stall names the control probe that lost an echo over the same
	// span through one of the pair's nodes: the machine stalled that
	// datapath, whatever neutrino did (such outages are listed, not
	// judged).
	Stall string `json:"stall,omitempty"`
	// Context says, for a run between faults, what was happening then:
	// the fault before it and the workload steps under way.
	Context string `json:"context,omitempty"`
}

func (o outage) String() string {
	s := fmt.Sprintf("%s lost %d in a row from %s (fault %d, %s)", o.Pair, o.Lost, o.Start.UTC().Format("15:04:05.000"), o.Fault, o.Kind)
	if o.Kind == betweenFaults || o.Kind == setupKind {
		s = fmt.Sprintf("%s lost %d in a row from %s (%s)", o.Pair, o.Lost, o.Start.UTC().Format("15:04:05.000"), o.Kind)
	}
	if o.Stall != "" {
		s += "; " + o.Stall + " lost echoes too"
	}
	if o.Context != "" {
		s += "; " + o.Context
	}
	return s
}

// lossless are the fault kinds after which no probe may lose more than
// the machine's own noise: only the control plane is hit, never the
// forwarding itself (unlike ovs-vswitchd crashes and underlay flaps).
var lossless = []string{faultAgent, faultServer, faultDB, faultLinkCut, faultBurst, faultOVSDB, faultL3Agent, faultDHCPAgent}

// probes counts each lost echo against the fault whose window (injected
// to converged, or the setup's) holds its send time, or betweenFaults,
// and names each run of outageRun or more lost echoes of a pair, as the
// window's that holds most of it: those of a lossless fault are
// outages, those between faults or at setup are listed with what was
// happening then (the fault before, the workload steps under way).
func (r *report) probes(ps []*prober, windows []*fault, steps []workStep, cutoff time.Time) {
	faultAt := func(t time.Time) *fault {
		for i := len(windows) - 1; i >= 0; i-- {
			if f := windows[i]; !t.Before(f.Start) && !t.After(f.End) {
				return f
			}
		}
		return nil
	}
	var controls []*prober
	for _, p := range ps {
		if p.control {
			controls = append(controls, p)
		}
	}
	// stall names a control through one of nodes that lost an echo
	// sent between from and to (one interval of slack each side).
	stall := func(nodes []string, from, to time.Time, interval time.Duration) string {
		for _, c := range controls {
			if slices.ContainsFunc(c.nodes, func(n string) bool { return slices.Contains(nodes, n) }) &&
				c.lostBetween(from.Add(-interval), to.Add(interval)) {
				return c.name
			}
		}
		return ""
	}
	for _, p := range ps {
		loss := r.Loss
		if p.control {
			loss = r.ControlLoss
		}
		p.mu.Lock()
		sent, replied := slices.Clone(p.sent), slices.Clone(p.replied)
		p.mu.Unlock()
		run := 0
		var firstAt, lastAt time.Time
		// The run's echoes by window, in order: the run is the window's
		// that holds most of them (the first of equals).
		var keys []string
		held := map[string]int{}
		faultOf := map[string]*fault{}
		end := func() {
			if run == 0 {
				return
			}
			firstKey := keys[0]
			for _, k := range keys {
				if held[k] > held[firstKey] {
					firstKey = k
				}
			}
			first := faultOf[firstKey]
			keys, held, faultOf = keys[:0], map[string]int{}, map[string]*fault{}
			l := loss[firstKey]
			l.MaxRun = max(l.MaxRun, run)
			if run >= outageRun && !p.control {
				o := outage{Pair: p.name, Kind: firstKey, Start: firstAt, Lost: run, Stall: stall(p.nodes, firstAt, lastAt, p.interval)}
				switch {
				case first == nil || first.Kind == setupKind:
					o.Fault, o.Context = quietContext(firstAt, lastAt.Add(p.interval), windows, steps)
					r.Quiet = append(r.Quiet, o)
				case slices.Contains(lossless, first.Kind):
					o.Fault = first.N
					r.Outages = append(r.Outages, o)
				}
			}
			run = 0
		}
		for i, t := range sent {
			if !t.Before(cutoff) {
				break
			}
			f := faultAt(t)
			k := betweenFaults
			if f != nil {
				k = f.Kind
			}
			if loss[k] == nil {
				loss[k] = &probeLoss{}
			}
			l := loss[k]
			l.Sent++
			if replied[i] {
				end()
				continue
			}
			if run == 0 {
				firstAt = t
			}
			if held[k] == 0 {
				keys = append(keys, k)
				faultOf[k] = f
			}
			held[k]++
			lastAt = t
			l.Lost++
			run++
		}
		end()
	}
}

// quietContext says what was happening while echoes sent from from to to
// were lost between faults or at setup: the fault before (its number is
// returned; 0 before the first), a fault that began before to, and the
// workload steps under way from a second before.
func quietContext(from, to time.Time, windows []*fault, steps []workStep) (int, string) {
	var parts, next []string
	var prev *fault
	for _, f := range windows { // oldest first
		switch {
		case !from.Before(f.Start) && !from.After(f.End):
			parts = append(parts, fmt.Sprintf("%.2f s into the %s (the deployment's first convergence)", from.Sub(f.Start).Seconds(), f.Kind))
		case !f.End.After(from):
			prev = f
		case f.Start.Before(to):
			next = append(next, fmt.Sprintf("fault %d (%s %s) began %.2f s into it", f.N, f.Kind, f.Target, f.Start.Sub(from).Seconds()))
		}
	}
	n := 0
	switch {
	case prev == nil:
	case prev.Kind == setupKind:
		parts = append(parts, fmt.Sprintf("%.2f s after the setup converged", from.Sub(prev.End).Seconds()))
	default:
		n = prev.N
		parts = append(parts, fmt.Sprintf("%.2f s after fault %d (%s %s) converged", from.Sub(prev.End).Seconds(), prev.N, prev.Kind, prev.Target))
	}
	parts = append(parts, next...)
	var doing []string
	for _, s := range steps {
		if s.End.After(from.Add(-time.Second)) && s.Start.Before(to) {
			doing = append(doing, fmt.Sprintf("%s (%+.2f s to %+.2f s)", s.What, s.Start.Sub(from).Seconds(), s.End.Sub(from).Seconds()))
		}
	}
	if len(doing) == 0 {
		doing = []string{"no step under way"}
	}
	parts = append(parts, "workload: "+strings.Join(doing, ", "))
	return n, strings.Join(parts, "; ")
}

func (r *report) api(w *workload) {
	w.stats.mu.Lock()
	defer w.stats.mu.Unlock()
	r.APICalls = w.stats.calls
	r.API = map[string]map[string]int{"failed_attempts": w.stats.failed, "retried_to_success": w.stats.retriedOK, "gave_up": w.stats.gaveUp}
	w.mu.Lock()
	r.Ops, r.WorkErrs = w.ops, w.errs
	w.mu.Unlock()
}

// goalsMissed lists the goals the run missed: no difference past the
// bound, none at the end, nothing written twice or half, no API call
// that failed for good, no 5xx but 503, no leak, no outage (outageFloor
// consecutive lost probes) during a fault of the agents, the servers,
// the database, ovsdb-server or the agents' link. Shorter losses are
// counted and printed, not judged: this 2-core machine drops some
// between faults too.
func (r *report) goalsMissed() []string {
	var out []string
	if r.Error != "" {
		out = append(out, "the run stopped: "+r.Error)
	}
	if len(r.Failures) > 0 {
		out = append(out, fmt.Sprintf("%d faults did not converge within the bound", len(r.Failures)))
	}
	if len(r.Final) > 0 {
		out = append(out, fmt.Sprintf("%d differences at the end", len(r.Final)))
	}
	if len(r.Integrity) > 0 {
		out = append(out, fmt.Sprintf("%d integrity problems", len(r.Integrity)))
	}
	if len(r.Leaks) > 0 {
		out = append(out, fmt.Sprintf("%d leaks", len(r.Leaks)))
	}
	for k, n := range r.API["gave_up"] {
		out = append(out, fmt.Sprintf("%d API calls failed for good with %s", n, k))
	}
	for k := range r.API["failed_attempts"] {
		if k != "transport" && k != deletedBefore && !strings.HasPrefix(k, "503 ") {
			out = append(out, "API answered "+k)
		}
	}
	if len(r.WorkErrs) > 0 {
		out = append(out, fmt.Sprintf("%d workload steps failed", len(r.WorkErrs)))
	}
	if o := r.judgedOutages(); len(o) > 0 {
		var named []string
		for _, x := range o {
			named = append(named, x.String())
		}
		out = append(out, fmt.Sprintf("%d outages during faults that must lose nothing (an outage: %d or more in a row; longest between faults: %d): %s",
			len(o), r.outageFloor(), r.Loss[betweenFaults].maxRun(), strings.Join(named, "; ")))
	}
	return out
}

// judgedOutages are the outages that count against the goals: as long as
// the floor, and no control through the pair's nodes lost echoes then.
func (r *report) judgedOutages() []outage {
	var out []outage
	for _, o := range r.Outages {
		if o.Lost >= r.outageFloor() && o.Stall == "" {
			out = append(out, o)
		}
	}
	return out
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n== chaos figures (seed %d, %s) ==\n", r.Seed, r.DB)
	fmt.Fprintf(w, "faults injected: %d in %s\n", r.Total, r.Elapsed)
	kinds := make([]string, 0, len(r.Faults))
	for k := range r.Faults {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "%-26s %6s %9s %9s %9s %14s %8s\n", "kind", "faults", "conv p50", "conv p99", "conv max", "probes lost", "max run")
	for _, k := range kinds {
		c := r.Converge[k]
		l := r.Loss[k]
		if l == nil {
			l = &probeLoss{}
		}
		fmt.Fprintf(w, "%-26s %6d %8.2fs %8.2fs %8.2fs %6d/%-7d %8d\n", k, r.Faults[k], c.P50, c.P99, c.Max, l.Lost, l.Sent, l.MaxRun)
	}
	for _, k := range []string{setupKind, betweenFaults} {
		if l := r.Loss[k]; l != nil {
			fmt.Fprintf(w, "%-26s %6s %9s %9s %9s %6d/%-7d %8d\n", "("+k+")", "", "", "", "", l.Lost, l.Sent, l.MaxRun)
		}
	}
	ck := make([]string, 0, len(r.ControlLoss))
	for k := range r.ControlLoss {
		ck = append(ck, k)
	}
	sort.Strings(ck)
	fmt.Fprintf(w, "control probes (controller to each node's VTEP), lost/sent (max run):")
	for _, k := range ck {
		l := r.ControlLoss[k]
		fmt.Fprintf(w, " %s %d/%d (%d);", k, l.Lost, l.Sent, l.MaxRun)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "an outage during a fault is %d or more consecutive lost probes (%d ms apart)\n", r.outageFloor(), 50)
	judged := r.judgedOutages()
	fmt.Fprintf(w, "outages during faults that must lose nothing: %d judged, %d with a control stalled too\n", len(judged), len(r.Outages)-len(judged))
	for _, o := range r.Outages {
		if o.Lost >= r.outageFloor() {
			fmt.Fprintf(w, "  %s\n", o)
		}
	}
	fmt.Fprintf(w, "runs of %d or more lost between faults or at setup: %d\n", outageRun, len(r.Quiet))
	for _, o := range r.Quiet {
		fmt.Fprintf(w, "  %s\n", o)
	}
	fmt.Fprintf(w, "one audit of every node: p50 %.2fs, p99 %.2fs, max %.2fs (%d audits)\n", r.Audit.P50, r.Audit.P99, r.Audit.Max, r.Audit.N)
	fmt.Fprintf(w, "differences past the bound: %d faults\n", len(r.Failures))
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  fault %d %s %s: %v\n", f.N, f.Kind, f.Target, f.Failed)
	}
	fmt.Fprintf(w, "differences at the end: %d %v\n", len(r.Final), r.Final)
	fmt.Fprintf(w, "API calls: %d; failed attempts %v; retried to success %v; failed for good %v\n",
		r.APICalls, r.API["failed_attempts"], r.API["retried_to_success"], r.API["gave_up"])
	fmt.Fprintf(w, "workload operations: %v; failed steps: %d\n", r.Ops, len(r.WorkErrs))
	for _, e := range r.WorkErrs {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprintf(w, "written twice or half: %d %v\n", len(r.Integrity), r.Integrity)
	fmt.Fprintf(w, "leaked (processes, namespaces): %d %v\n", len(r.Leaks), r.Leaks)
	fmt.Fprintf(w, "load average at the end: %s\n", r.Load)
	if m := r.goalsMissed(); len(m) > 0 {
		fmt.Fprintf(w, "GOALS MISSED: %s\n", strings.Join(m, "; "))
	} else {
		fmt.Fprintln(w, "all goals met")
	}
}
