// Package stats summarises load-test samples as percentiles.
//
// Two ways in: Histogram for unbounded streams of samples recorded from
// many goroutines (every request of a long run), and Summarize for a
// small slice held in memory (one value per client). Both give a Summary.
package stats

import (
	"math"
	"slices"
)

// Summary is the distribution of one metric. Percentiles use the
// nearest-rank definition; all fields are zero when Count is zero.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Scale returns s with every value multiplied by f (seconds to
// milliseconds: 1000). Count is unchanged.
func (s Summary) Scale(f float64) Summary {
	s.P50 *= f
	s.P90 *= f
	s.P99 *= f
	s.Max *= f
	return s
}

// Summarize returns the exact percentiles of samples. It sorts samples in
// place. NaN samples are dropped.
func Summarize(samples []float64) Summary {
	samples = slices.DeleteFunc(samples, math.IsNaN)
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	return Summary{
		Count: int64(len(samples)),
		P50:   samples[rank(0.50, len(samples))],
		P90:   samples[rank(0.90, len(samples))],
		P99:   samples[rank(0.99, len(samples))],
		Max:   samples[len(samples)-1],
	}
}

// rank is the 0-based nearest-rank index of quantile q among n samples.
func rank(q float64, n int) int {
	r := int(math.Ceil(q*float64(n))) - 1
	return min(max(r, 0), n-1)
}
