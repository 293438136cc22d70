package main

import (
	"context"
	"encoding/xml"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func ms(v ...int) []time.Duration {
	var out []time.Duration
	for _, x := range v {
		out = append(out, time.Duration(x)*time.Millisecond)
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median odd", ms(3, 1, 2), 0.5, 2 * time.Millisecond},
		{"median even takes lower rank", ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p50 of 100 is the 50th", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p99 of 10 is the max", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{"max", ms(5, 9, 1), 1, 9 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := Percentile(tt.in, tt.q); got != tt.want {
			t.Errorf("%s: Percentile(%v, %v) = %v, want %v", tt.name, tt.in, tt.q, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) should be NaN")
	}
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSummarise(t *testing.T) {
	p := Summarise(8, ms(10, 20, 30, 40), 1, "boom", 2*time.Second)
	if p.OK != 4 || p.Errors != 1 || p.Throughput != 2 || p.P50S != 0.02 || p.P99S != 0.04 || p.FirstError != "boom" {
		t.Errorf("Summarise = %+v", p)
	}
}

func TestRatioText(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		k           Kind
		base, other float64
		want        string
	}{
		{Latency, 0.2, 0.002, "**100× faster**"},
		{Latency, 0.2, 0.1, "**2.0× faster**"},
		{Latency, 0.1, 0.2, "Neutron 2.0× faster"},
		{Throughput, 7.5, 300, "**40×**"},
		{Throughput, 10, 5, "0.5× (Neutron 2.0× more)"},
		{MemKB, 800 * 1024, 40 * 1024, "**20× less**"},
		{MemKB, 10, 30, "Neutron 3.0× less"},
		{Latency, nan, 1, "n/a"},
		{Throughput, 0, 1, "n/a"},
	}
	for _, tt := range tests {
		if got := RatioText(tt.k, tt.base, tt.other, "Neutron"); got != tt.want {
			t.Errorf("RatioText(%v, %v, %v) = %q, want %q", tt.k, tt.base, tt.other, got, tt.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		k    Kind
		v    float64
		want string
	}{
		{Latency, 4.046, "4.05 s"}, {Latency, 0.208, "208 ms"}, {Latency, 0.0123, "12.3 ms"},
		{Latency, 0.00042, "0.42 ms"}, {Throughput, 7.46, "7.46/s"}, {Throughput, 12.34, "12.3/s"},
		{Throughput, 1234.5, "1234/s"}, {MemKB, 2048, "2 MiB"}, {Latency, math.NaN(), "–"},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.k, tt.v); got != tt.want {
			t.Errorf("FormatValue(%v, %v) = %q, want %q", tt.k, tt.v, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[int]string{7: "7", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
}

func sample() Results {
	mk := func(c int, thr, p50, p99 float64) PhaseResult {
		return PhaseResult{Concurrency: c, OK: 10, Throughput: thr, P50S: p50, P99S: p99}
	}
	return Results{
		Settings: Settings{Runs: 2, Concurrency: []int{1, 32}, ListSizes: []int{1000}},
		Systems: []SystemResult{
			{Name: "neutron", Label: "Neutron 2023.1 (MariaDB)",
				Runs: []RunResult{
					{NetSub: PhaseResult{OK: 5, P50S: 0.5, P99S: 0.9}, Create: []PhaseResult{mk(1, 5, 0.2, 0.3), mk(32, 7, 4, 6)}},
					{NetSub: PhaseResult{OK: 5, P50S: 0.7, P99S: 1.1}, Create: []PhaseResult{mk(1, 6, 0.18, 0.35), mk(32, 8, 4.2, 7)}},
				},
				Lists: []ListResult{{Ports: 1000, Listed: 1000, MedianS: 0.4}},
				Mem:   Memory{RSSPeakKB: 900 * 1024, PSSEndKB: 500 * 1024}},
			{Name: "neutrino-mariadb", Label: "neutrino (MariaDB)",
				Runs: []RunResult{
					{NetSub: PhaseResult{OK: 5, P50S: 0.01, P99S: 0.02}, Create: []PhaseResult{mk(1, 500, 0.002, 0.004), mk(32, 3000, 0.01, 0.03)}},
					{NetSub: PhaseResult{OK: 5, P50S: 0.01, P99S: 0.02}, Create: []PhaseResult{mk(1, 520, 0.002, 0.005), mk(32, 2800, 0.01, 0.04)}},
				},
				Lists: []ListResult{{Ports: 1000, Listed: 1000, MedianS: 0.01}},
				Mem:   Memory{RSSPeakKB: 45 * 1024, PSSEndKB: 40 * 1024}},
		},
	}
}

// The whole table as text: medians over the two runs, ratios, rows without
// any value (bound ports, convergence) left out.
func TestTableGolden(t *testing.T) {
	res := sample()
	got := Table(res, Rows(res), "neutron", []string{"neutrino-mariadb"})
	want := `| metric | Neutron 2023.1 (MariaDB) | neutrino (MariaDB) | neutrino vs Neutron |
|---|---:|---:|---|
| port create, 1 client: throughput (ports/s) | 5.50/s | 510/s | **93×** |
| port create, 1 client: p50 | 190 ms | 2.00 ms | **95× faster** |
| port create, 1 client: p99 | 325 ms | 4.50 ms | **72× faster** |
| port create, 32 clients: throughput (ports/s) | 7.50/s | 2900/s | **387×** |
| port create, 32 clients: p50 | 4.10 s | 10.0 ms | **410× faster** |
| port create, 32 clients: p99 | 6.50 s | 35.0 ms | **186× faster** |
| network + subnet create (1 client): p50 | 600 ms | 10.0 ms | **60× faster** |
| network + subnet create (1 client): p99 | 1.00 s | 20.0 ms | **50× faster** |
| list 1,000 ports (GET ?network_id=) | 400 ms | 10.0 ms | **40× faster** |
| server memory, RSS peak (all processes) | 900 MiB | 45 MiB | **20× less** |
| server memory, PSS at end (all processes) | 500 MiB | 40 MiB | **12× less** |
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	goals := Goals(res, Rows(res), "neutron", "neutrino-mariadb")
	wantGoals := "- 1 client: throughput 93× (goal ≥ 20×: met), p99 72× lower (goal ≥ 10×: met)\n" +
		"- 32 clients: throughput 387× (goal ≥ 20×: met), p99 186× lower (goal ≥ 10×: met)\n"
	if goals != wantGoals {
		t.Errorf("goals:\n%s\nwant:\n%s", goals, wantGoals)
	}
}

func TestGoalsNotMet(t *testing.T) {
	res := sample()
	res.Systems[1].Runs[0].Create[1].Throughput = 50
	res.Systems[1].Runs[1].Create[1].Throughput = 60
	g := Goals(res, Rows(res), "neutron", "neutrino-mariadb")
	if !strings.Contains(g, "32 clients: throughput 7.3× (goal ≥ 20×: NOT met)") {
		t.Errorf("goals did not flag the miss:\n%s", g)
	}
}

func TestPlotSVG(t *testing.T) {
	res := sample()
	svg := PlotSVG("t <&>", res.Settings.Concurrency, LatencySeries(res))
	if err := xml.Unmarshal([]byte(svg), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("not well-formed XML: %v\n%s", err, svg)
	}
	if n := strings.Count(svg, "<polyline"); n != 4 {
		t.Errorf("want 4 lines (p50+p99 per system), got %d", n)
	}
	for _, want := range []string{"Neutron 2023.1 (MariaDB) p50", "neutrino (MariaDB) p99", `stroke-dasharray`, "1.00 ms", "10.00 s", "t &lt;&amp;&gt;"} {
		if !strings.Contains(svg, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
}

func TestPollUntil(t *testing.T) {
	t0 := time.Now()
	n := 0
	var at float64
	err := pollUntil(context.Background(), t0, &at, func() (bool, error) { n++; return n == 3, nil })
	if err != nil || n != 3 || at <= 0 || at > time.Since(t0).Seconds() {
		t.Errorf("pollUntil: err %v, probes %d, at %v", err, n, at)
	}
	boom := errors.New("boom")
	if err := pollUntil(context.Background(), t0, &at, func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("probe error not returned: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pollUntil(ctx, t0, &at, func() (bool, error) { return false, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestRuleCover: Neutron's per-port rule flows cover their port only; a
// flow naming no port (neutrino's per-group flow) covers every port and
// gives its group; flows of another port number or another port cover
// nothing.
func TestRuleCover(t *testing.T) {
	want := map[string]bool{"reg5=0x2": true, "reg5=0x3": true}
	seen := map[string]bool{}
	for _, l := range []string{
		" event=ADDED table=82 cookie=0x1 ct_state=+new-est,tcp,reg5=0x2,tp_dst=10001 actions=conjunction(7,2/2)",
		" event=ADDED table=82 cookie=0x1 ct_state=+new-est,tcp,reg5=0x9,tp_dst=10001 actions=ct(commit)",
		" event=ADDED table=82 cookie=0x1 ct_state=+new-est,tcp,reg5=0x3,tp_dst=10002 actions=ct(commit)",
		" event=ADDED table=82 cookie=0x1 ct_state=+new-est,udp,reg5=0x3,tp_dst=10001 actions=ct(commit)",
	} {
		if g := ruleCover(l, 10001, want, seen); g != "" {
			t.Errorf("per-port flow gave group %q", g)
		}
	}
	if len(seen) != 1 || !seen["reg5=0x2"] {
		t.Fatalf("per-port flows covered %v, want reg5=0x2 only", seen)
	}
	if g := ruleCover(" event=ADDED table=85 cookie=0x1 tcp,reg8=0x1f,tp_dst=10001 actions=set_field:0x1->reg9", 10001, want, seen); g != "0x1f" || len(seen) != 2 {
		t.Errorf("group flow: group %q, covered %v", g, seen)
	}
}
