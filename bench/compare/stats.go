package main

import (
	"math"
	"sort"
	"time"
)

// Percentile returns the q-quantile (0..1) of samples by the nearest-rank
// method: the smallest sample with at least q of all samples at or below
// it. With 100 samples p99 is the 99th smallest; with fewer than 100 it is
// the largest. Zero for no samples.
func Percentile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(q * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// Median of float values (mean of the middle two for an even count); NaN
// for none. Used to combine repeated runs.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// PhaseResult is what one timed phase of one run measured.
type PhaseResult struct {
	Concurrency int     `json:"concurrency"`
	OK          int     `json:"ok"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	ElapsedS    float64 `json:"elapsed_s"`
	P50S        float64 `json:"p50_s"`
	P99S        float64 `json:"p99_s"`
	MaxS        float64 `json:"max_s"`
	// Throughput is successful operations per second of wall time of the
	// whole phase (first request sent .. last answer received).
	Throughput float64 `json:"throughput_per_s"`
}

// Summarise turns latencies of successful requests and the phase's wall time
// into a PhaseResult.
func Summarise(conc int, lat []time.Duration, errs int, firstErr string, elapsed time.Duration) PhaseResult {
	r := PhaseResult{Concurrency: conc, OK: len(lat), Errors: errs, FirstError: firstErr, ElapsedS: elapsed.Seconds()}
	if len(lat) > 0 {
		r.P50S = Percentile(lat, 0.50).Seconds()
		r.P99S = Percentile(lat, 0.99).Seconds()
		r.MaxS = Percentile(lat, 1).Seconds()
	}
	if elapsed > 0 {
		r.Throughput = float64(len(lat)) / elapsed.Seconds()
	}
	return r
}
