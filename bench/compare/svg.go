package main

import (
	"fmt"
	"math"
	"strings"
)

// Series is one line of the latency plot.
type Series struct {
	Name   string
	Color  string
	Dashed bool
	X      []int     // concurrency
	Y      []float64 // seconds (NaN points are skipped)
}

// PlotSVG draws latency against concurrency: x evenly spaced by category
// (1, 8, 32 clients), y on a log10 scale since Neutron's seconds and
// neutrino's milliseconds differ by orders of magnitude. Written by hand
// (a few dozen lines of SVG) rather than pulling a plotting module in.
func PlotSVG(title string, xs []int, series []Series) string {
	const W, H = 760, 440
	const left, right, top, bottom = 80, 250, 50, 60
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, y := range s.Y {
			if y > 0 && !math.IsNaN(y) {
				lo, hi = math.Min(lo, y), math.Max(hi, y)
			}
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0.001, 1
	}
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi <= dlo {
		dhi = dlo + 1
	}
	ypix := func(v float64) float64 { return float64(top) + ph*(dhi-math.Log10(v))/(dhi-dlo) }
	xpix := func(i int) float64 {
		if len(xs) == 1 {
			return float64(left) + pw/2
		}
		return float64(left) + pw*float64(i)/float64(len(xs)-1)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
	// y grid: one line per decade
	for d := dlo; d <= dhi; d++ {
		y := ypix(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, float64(left)+pw, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, esc(FormatValue(Latency, math.Pow(10, d))))
	}
	for i, x := range xs {
		px := xpix(i)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", px, top, px, float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", px, float64(top)+ph+18, x)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">concurrent clients</text>`+"\n", float64(left)+pw/2, H-14)
	fmt.Fprintf(&b, `<text x="18" y="%.1f" text-anchor="middle" transform="rotate(-90 18 %.1f)">port create latency (log scale)</text>`+"\n", float64(top)+ph/2, float64(top)+ph/2)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	for si, s := range series {
		var pts []string
		for i, x := range xs {
			for j, sx := range s.X {
				if sx == x && j < len(s.Y) && s.Y[j] > 0 && !math.IsNaN(s.Y[j]) {
					pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpix(i), ypix(s.Y[j])))
				}
			}
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), s.Color, dash)
			for _, p := range pts {
				xy := strings.SplitN(p, ",", 2)
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], s.Color)
			}
		}
		ly := float64(top + 10 + 20*si)
		lx := float64(left) + pw + 16
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+28, ly, s.Color, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+34, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

var palette = map[string]string{
	"neutron":           "#d62728",
	"neutrino-mariadb":  "#1f77b4",
	"neutrino-sqlite":   "#2ca02c",
	"neutrino-postgres": "#9467bd",
}

// LatencySeries builds p50 (solid) and p99 (dashed) lines per system.
func LatencySeries(res Results) []Series {
	var out []Series
	for _, s := range res.Systems {
		if s.Error != "" {
			continue
		}
		col := palette[s.Name]
		if col == "" {
			col = "#555"
		}
		p50 := Series{Name: s.Label + " p50", Color: col}
		p99 := Series{Name: s.Label + " p99", Color: col, Dashed: true}
		for _, c := range res.Settings.Concurrency {
			c := c
			p50.X, p99.X = append(p50.X, c), append(p99.X, c)
			p50.Y = append(p50.Y, s.median(func(r RunResult) (float64, bool) { p, ok := createAt(r, c); return p.P50S, ok }))
			p99.Y = append(p99.Y, s.median(func(r RunResult) (float64, bool) { p, ok := createAt(r, c); return p.P99S, ok }))
		}
		out = append(out, p50, p99)
	}
	return out
}
