package live

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the live streams' Prometheus collectors.
type Metrics struct {
	streams     prometheus.Gauge
	segments    *prometheus.CounterVec
	listLatency prometheus.Histogram
	held        *prometheus.GaugeVec
}

// NewMetrics registers the collectors on reg (tests pass a fresh registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "edgecache", "packager"
	m := &Metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "streams_publishing",
			Help: "Streams that currently have a publisher.",
		}),
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "segments_total",
			Help: "Complete segments produced, by track (video, audio, ts).",
		}, []string{"stream", "track"}),
		listLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "keyframe_to_listed_seconds",
			Help:    "Time from the arrival of the keyframe that closes a segment to the playlists listing it.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		held: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "held_requests",
			Help: "LL-HLS requests being held: blocking playlist reloads (playlist) and preload hints (part).",
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.streams, m.segments, m.listLatency, m.held} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register packager metrics: %w", err)
		}
	}
	return m, nil
}

// forget drops a removed stream's labelled series.
func (m *Metrics) forget(stream string) {
	m.segments.DeletePartialMatch(prometheus.Labels{"stream": stream})
}
