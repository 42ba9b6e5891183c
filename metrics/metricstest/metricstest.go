// Package metricstest reads metrics back from a registry, for the tests of
// the packages that record them.
package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value returns the first series of the metric name on g that has every
// label in labels (nil: any series): a counter's or gauge's value, a
// histogram's sample count. ok is false when there is no such series.
func Value(tb testing.TB, g prometheus.Gatherer, name string, labels map[string]string) (v float64, ok bool) {
	tb.Helper()
	fams, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// Labels returns the label sets of every series of the metric name on g.
func Labels(tb testing.TB, g prometheus.Gatherer, name string) []map[string]string {
	tb.Helper()
	fams, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var out []map[string]string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			ls := map[string]string{}
			for _, lp := range m.GetLabel() {
				ls[lp.GetName()] = lp.GetValue()
			}
			out = append(out, ls)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if want, ok := labels[lp.GetName()]; ok {
			if want != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}
