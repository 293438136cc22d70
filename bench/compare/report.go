package main

import (
	"fmt"
	"math"
	"strings"
)

// Kind says how a metric's values compare and print.
type Kind int

const (
	Latency    Kind = iota // seconds, lower is better
	Throughput             // per second, higher is better
	MemKB                  // kB, lower is better
)

// Row is one metric with a value per system (NaN = not measured).
type Row struct {
	Metric string
	Kind   Kind
	Values map[string]float64 // system name -> value
}

// Rows derives the table's rows (medians over runs) from the results.
func Rows(res Results) []Row {
	var rows []Row
	add := func(metric string, k Kind, f func(SystemResult) float64) {
		r := Row{Metric: metric, Kind: k, Values: map[string]float64{}}
		for _, s := range res.Systems {
			if s.Error != "" {
				r.Values[s.Name] = math.NaN()
				continue
			}
			r.Values[s.Name] = f(s)
		}
		rows = append(rows, r)
	}
	for _, c := range res.Settings.Concurrency {
		c := c
		cl := fmt.Sprintf("%d client", c)
		if c != 1 {
			cl += "s"
		}
		add("port create, "+cl+": throughput (ports/s)", Throughput, func(s SystemResult) float64 {
			return s.median(func(r RunResult) (float64, bool) { p, ok := createAt(r, c); return p.Throughput, ok })
		})
		add("port create, "+cl+": p50", Latency, func(s SystemResult) float64 {
			return s.median(func(r RunResult) (float64, bool) { p, ok := createAt(r, c); return p.P50S, ok })
		})
		add("port create, "+cl+": p99", Latency, func(s SystemResult) float64 {
			return s.median(func(r RunResult) (float64, bool) { p, ok := createAt(r, c); return p.P99S, ok })
		})
	}
	add("network + subnet create (1 client): p50", Latency, func(s SystemResult) float64 {
		return s.median(func(r RunResult) (float64, bool) { return r.NetSub.P50S, r.NetSub.OK > 0 })
	})
	add("network + subnet create (1 client): p99", Latency, func(s SystemResult) float64 {
		return s.median(func(r RunResult) (float64, bool) { return r.NetSub.P99S, r.NetSub.OK > 0 })
	})
	for _, n := range res.Settings.ListSizes {
		n := n
		add(fmt.Sprintf("list %s ports (GET ?network_id=)", thousands(n)), Latency, func(s SystemResult) float64 { return s.list(n) })
	}
	bindOK := func(r RunResult) (PhaseResult, bool) { return derefPhase(r.Bind) }
	add("port create with binding:host_id (live agent, 1 client): p50", Latency, func(s SystemResult) float64 {
		return s.median(func(r RunResult) (float64, bool) { p, ok := bindOK(r); return p.P50S, ok })
	})
	add("port create with binding:host_id (live agent, 1 client): p99", Latency, func(s SystemResult) float64 {
		return s.median(func(r RunResult) (float64, bool) { p, ok := bindOK(r); return p.P99S, ok })
	})
	add("server memory, RSS peak (all processes)", MemKB, func(s SystemResult) float64 {
		if s.Mem.RSSPeakKB == 0 {
			return math.NaN()
		}
		return float64(s.Mem.RSSPeakKB)
	})
	add("server memory, PSS at end (all processes)", MemKB, func(s SystemResult) float64 {
		if s.Mem.PSSEndKB == 0 {
			return math.NaN()
		}
		return float64(s.Mem.PSSEndKB)
	})
	conv := func(f func(*ConvergeResult) float64) func(SystemResult) float64 {
		return func(s SystemResult) float64 {
			if s.Converge == nil || len(s.Converge.Samples) == 0 {
				return math.NaN()
			}
			return f(s.Converge)
		}
	}
	add("port plugged on node 1 → ACTIVE in the API (median)", Latency, conv(func(c *ConvergeResult) float64 { return c.PlugToActiveS }))
	add("ACTIVE → forwarding entry on node 2 (median)", Latency, conv(func(c *ConvergeResult) float64 { return c.ActiveToFDBS }))
	add("port plugged on node 1 → forwarding entry on node 2 (median)", Latency, conv(func(c *ConvergeResult) float64 { return c.PlugToFDBS }))
	return rows
}

func derefPhase(p *PhaseResult) (PhaseResult, bool) {
	if p == nil || p.OK == 0 {
		return PhaseResult{}, false
	}
	return *p, true
}

// Factor is how many times better `other` is than `base` (>1: other wins).
// NaN when either is missing or zero.
func Factor(k Kind, base, other float64) float64 {
	if math.IsNaN(base) || math.IsNaN(other) || base <= 0 || other <= 0 {
		return math.NaN()
	}
	if k == Throughput {
		return other / base
	}
	return base / other
}

// RatioText says who wins by how much, e.g. "**38× faster**" or
// "Neutron 1.6× less". Throughput rows print the bare factor ("**38×**").
func RatioText(k Kind, base, other float64, baseName string) string {
	f := Factor(k, base, other)
	if math.IsNaN(f) {
		return "n/a"
	}
	word := map[Kind]string{Latency: " faster", Throughput: "", MemKB: " less"}[k]
	if f >= 1 {
		return "**" + fmtFactor(f) + "×" + word + "**"
	}
	if k == Throughput {
		return fmtFactor(f) + "× (" + baseName + " " + fmtFactor(1/f) + "× more)"
	}
	opp := map[Kind]string{Latency: " faster", MemKB: " less"}[k]
	return baseName + " " + fmtFactor(1/f) + "×" + opp
}

func fmtFactor(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.0f", f)
	default:
		return fmt.Sprintf("%.1f", f)
	}
}

// FormatValue prints a metric value with its unit.
func FormatValue(k Kind, v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch k {
	case Throughput:
		switch {
		case v >= 100:
			return fmt.Sprintf("%.0f/s", v)
		case v >= 10:
			return fmt.Sprintf("%.1f/s", v)
		default:
			return fmt.Sprintf("%.2f/s", v)
		}
	case MemKB:
		return fmt.Sprintf("%.0f MiB", v/1024)
	}
	switch {
	case v >= 1:
		return fmt.Sprintf("%.2f s", v)
	case v >= 0.1:
		return fmt.Sprintf("%.0f ms", v*1000)
	case v >= 0.01:
		return fmt.Sprintf("%.1f ms", v*1000)
	default:
		return fmt.Sprintf("%.2f ms", v*1000)
	}
}

// Table renders rows as a Markdown table: the base system, then for each
// other system its value and the ratio against the base. Rows where no
// system has a value are left out.
func Table(res Results, rows []Row, base string, others []string) string {
	label := map[string]string{}
	for _, s := range res.Systems {
		label[s.Name] = s.Label
	}
	var b strings.Builder
	b.WriteString("| metric | " + label[base])
	for _, o := range others {
		b.WriteString(" | " + label[o] + " | " + shortLabel(label[o]) + " vs " + shortLabel(label[base]))
	}
	b.WriteString(" |\n|---|---:")
	for range others {
		b.WriteString("|---:|---")
	}
	b.WriteString("|\n")
	for _, r := range rows {
		any := !math.IsNaN(r.Values[base])
		for _, o := range others {
			any = any || !math.IsNaN(r.Values[o])
		}
		if !any {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s", r.Metric, FormatValue(r.Kind, r.Values[base]))
		for _, o := range others {
			fmt.Fprintf(&b, " | %s | %s", FormatValue(r.Kind, r.Values[o]), RatioText(r.Kind, r.Values[base], r.Values[o], shortLabel(label[base])))
		}
		b.WriteString(" |\n")
	}
	return b.String()
}

// shortLabel: "Neutron 2023.1 (MariaDB)" -> "Neutron".
func shortLabel(l string) string {
	if i := strings.IndexAny(l, " ("); i > 0 {
		return l[:i]
	}
	return l
}

// Goals checks the targets for `other` against `base`: port-create
// throughput >= 20x and p99 <= 1/10 at every concurrency measured.
func Goals(res Results, rows []Row, base, other string) string {
	var b strings.Builder
	for _, c := range res.Settings.Concurrency {
		var thr, p99 float64 = math.NaN(), math.NaN()
		for _, r := range rows {
			if r.Metric == fmt.Sprintf("port create, %d client%s: throughput (ports/s)", c, plural(c)) {
				thr = Factor(Throughput, r.Values[base], r.Values[other])
			}
			if r.Metric == fmt.Sprintf("port create, %d client%s: p99", c, plural(c)) {
				p99 = Factor(Latency, r.Values[base], r.Values[other])
			}
		}
		fmt.Fprintf(&b, "- %d client%s: throughput %s (goal ≥ 20×: %s), p99 %s lower (goal ≥ 10×: %s)\n",
			c, plural(c), fmtF(thr), verdict(thr, 20), fmtF(p99), verdict(p99, 10))
	}
	return b.String()
}

func plural(c int) string {
	if c == 1 {
		return ""
	}
	return "s"
}

func fmtF(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return fmtFactor(f) + "×"
}

func verdict(f, goal float64) string {
	switch {
	case math.IsNaN(f):
		return "not measured"
	case f >= goal:
		return "met"
	default:
		return "NOT met"
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
