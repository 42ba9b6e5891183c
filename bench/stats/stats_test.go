package stats

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestSummarize(t *testing.T) {
	seq := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = float64(n - i) // reversed, to prove it sorts
		}
		return s
	}
	tests := []struct {
		name string
		in   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{7}, Summary{Count: 1, P50: 7, P90: 7, P99: 7, Max: 7}},
		{"two", []float64{2, 1}, Summary{Count: 2, P50: 1, P90: 2, P99: 2, Max: 2}},
		{"hundred", seq(100), Summary{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100}},
		{"thousand", seq(1000), Summary{Count: 1000, P50: 500, P90: 900, P99: 990, Max: 1000}},
		{"nan dropped", []float64{math.NaN(), 3}, Summary{Count: 1, P50: 3, P90: 3, P99: 3, Max: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.in); got != tc.want {
				t.Errorf("Summarize = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHistogramMatchesExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() float64
	}{
		{"ttfb seconds", func() float64 { return 0.0005 + r.ExpFloat64()*0.01 }},
		{"ratios", func() float64 { return r.Float64() * 3 }},
		{"wide", func() float64 { return math.Exp(r.NormFloat64() * 5) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			var xs []float64
			for range 20000 {
				v := tc.gen()
				h.Record(v)
				xs = append(xs, v)
			}
			want := Summarize(xs)
			got := h.Summary()
			if got.Count != want.Count || got.Max != want.Max {
				t.Fatalf("count/max = %d/%v, want %d/%v", got.Count, got.Max, want.Count, want.Max)
			}
			for _, p := range []struct {
				name      string
				got, want float64
			}{{"p50", got.P50, want.P50}, {"p90", got.P90, want.P90}, {"p99", got.P99, want.P99}} {
				if p.got > p.want || p.got < p.want*(1-1.0/subBuckets) {
					t.Errorf("%s = %v, want within 0.8%% below %v", p.name, p.got, p.want)
				}
			}
		})
	}
}

func TestHistogramSmallIntegersExact(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 100, 255} {
		h := NewHistogram()
		h.Record(float64(n))
		if got := h.Quantile(0.5); got != float64(n) {
			t.Errorf("Quantile of single %d = %v", n, got)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	tests := []struct {
		name    string
		in      []float64
		wantP50 float64
		wantMax float64
	}{
		{"empty", nil, 0, 0},
		{"zeros and negatives count as zero", []float64{0, -1, math.NaN(), 5}, 0, 5},
		{"tiny", []float64{1e-12, 1e-12, 1}, 0, 1},
		{"huge clamps to max", []float64{1e12, 1e12}, 1e12, 1e12},
		{"inf", []float64{math.Inf(1)}, math.Inf(1), math.Inf(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			for _, v := range tc.in {
				h.Record(v)
			}
			s := h.Summary()
			if s.Count != int64(len(tc.in)) || s.Max != tc.wantMax {
				t.Errorf("count/max = %d/%v, want %d/%v", s.Count, s.Max, len(tc.in), tc.wantMax)
			}
			if s.P50 != tc.wantP50 {
				t.Errorf("p50 = %v, want %v", s.P50, tc.wantP50)
			}
		})
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(float64(g*1000 + i + 1))
			}
		})
	}
	wg.Wait()
	if h.Count() != 8000 || h.Max() != 8000 {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
}

func TestScale(t *testing.T) {
	s := Summary{Count: 3, P50: 1, P90: 2, P99: 3, Max: 4}.Scale(1000)
	if s != (Summary{Count: 3, P50: 1000, P90: 2000, P99: 3000, Max: 4000}) {
		t.Errorf("Scale = %+v", s)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	v := 0.0123
	for b.Loop() {
		h.Record(v)
		v += 1e-6
	}
}

func BenchmarkHistogramRecordParallel(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0.0123
		for pb.Next() {
			h.Record(v)
			v += 1e-6
		}
	})
}

func BenchmarkHistogramSummary(b *testing.B) {
	h := NewHistogram()
	for i := range 100000 {
		h.Record(float64(i) * 1e-5)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Summary()
	}
}
