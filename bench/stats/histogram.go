package stats

import (
	"math"
	"sync/atomic"
)

// Bucket layout: log-linear. A positive value v = f * 2^e with f in
// [0.5, 1) falls in sub-bucket floor((f-0.5)*2*subBuckets) of exponent e,
// so every bucket is narrower than 1/subBuckets = 0.8% of its lower bound,
// and integers below 2*subBuckets get a bucket of their own (counts and
// sequence lags come out exact). Exponents cover 2^-31 (under a
// nanosecond when the unit is the second) up to 2^22; smaller values count
// as zero, larger ones as Max.
const (
	subBuckets = 128
	minExp     = -30
	maxExp     = 22
	nBuckets   = (maxExp - minExp) * subBuckets
)

// Histogram records non-negative samples from any number of goroutines
// without locks, in fixed memory (about 50 KiB), and answers percentiles
// to within 0.8% (below the true value). The zero value is not usable: call NewHistogram.
type Histogram struct {
	zero    atomic.Uint64 // samples below 2^(minExp-1), negative, or NaN
	over    atomic.Uint64 // samples of 2^(maxExp) or more
	count   atomic.Uint64
	maxBits atomic.Uint64 // math.Float64bits of the largest sample, 0 at first
	buckets [nBuckets]atomic.Uint64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return new(Histogram) }

// Record adds one sample. Negative and NaN samples count as zero: the
// metrics recorded here (durations, ratios, lags) cannot be below zero,
// so one would be a clock step, and it should not vanish from the count.
func (h *Histogram) Record(v float64) {
	h.count.Add(1)
	if !(v > 0) { // also NaN
		h.zero.Add(1)
		return
	}
	for {
		old := h.maxBits.Load()
		if v <= math.Float64frombits(old) || h.maxBits.CompareAndSwap(old, math.Float64bits(v)) {
			break
		}
	}
	f, e := math.Frexp(v)
	switch {
	case e < minExp:
		h.zero.Add(1)
	case e >= maxExp || math.IsInf(v, 1):
		h.over.Add(1)
	default:
		sub := int((f - 0.5) * 2 * subBuckets)
		h.buckets[(e-minExp)*subBuckets+min(sub, subBuckets-1)].Add(1)
	}
}

// lowerBound is the smallest value that falls in bucket i.
func lowerBound(i int) float64 {
	e := i/subBuckets + minExp
	sub := i % subBuckets
	return math.Ldexp(0.5+float64(sub)/(2*subBuckets), e)
}

// Count returns the number of samples recorded.
func (h *Histogram) Count() int64 { return int64(h.count.Load()) }

// Max returns the largest sample, 0 when there is none.
func (h *Histogram) Max() float64 { return math.Float64frombits(h.maxBits.Load()) }

// Quantile returns the nearest-rank q-quantile (0 < q <= 1) as the lower
// bound of its bucket, never above Max. It is 0 for an empty histogram.
// Samples recorded while it runs may or may not be seen.
func (h *Histogram) Quantile(q float64) float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	want := int64(rank(q, int(n))) + 1
	seen := int64(h.zero.Load())
	if seen >= want {
		return 0
	}
	for i := range h.buckets {
		seen += int64(h.buckets[i].Load())
		if seen >= want {
			return min(lowerBound(i), h.Max())
		}
	}
	return h.Max() // in the overflow, or a Record between the loads above
}

// Summary returns the distribution recorded so far.
func (h *Histogram) Summary() Summary {
	n := h.Count()
	if n == 0 {
		return Summary{}
	}
	return Summary{
		Count: n,
		P50:   h.Quantile(0.50),
		P90:   h.Quantile(0.90),
		P99:   h.Quantile(0.99),
		Max:   h.Max(),
	}
}
