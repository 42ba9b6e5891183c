package origin

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the packager's Prometheus collectors, registered on the
// Registerer given to New (tests pass a fresh registry).
type metrics struct {
	streams     prometheus.Gauge
	bytesIn     *prometheus.CounterVec
	bitrateIn   *prometheus.GaugeVec
	segments    *prometheus.CounterVec
	rejections  *prometheus.CounterVec
	listLatency prometheus.Histogram
	held        *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "edgecache", "packager"
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "streams_publishing",
			Help: "Streams that currently have a publisher.",
		}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_bytes_total",
			Help: "Bytes received from publishers; rate() of it is the ingest bitrate.",
		}, []string{"stream"}),
		bitrateIn: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_bitrate_bits_per_second",
			Help: "Ingest bitrate of a stream over the last few seconds.",
		}, []string{"stream"}),
		segments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "segments_total",
			Help: "Complete segments produced, by track (video, audio, ts).",
		}, []string{"stream", "track"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "publish_rejections_total",
			Help: "Publish attempts rejected, by reason.",
		}, []string{"reason"}),
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
	for _, c := range []prometheus.Collector{m.streams, m.bytesIn, m.bitrateIn, m.segments, m.rejections, m.listLatency, m.held} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register packager metrics: %w", err)
		}
	}
	return m, nil
}

// forget drops a removed stream's labelled series.
func (m *metrics) forget(stream string) {
	m.bytesIn.DeleteLabelValues(stream)
	m.bitrateIn.DeleteLabelValues(stream)
	m.segments.DeletePartialMatch(prometheus.Labels{"stream": stream})
}
