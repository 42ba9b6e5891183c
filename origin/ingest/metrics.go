package ingest

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are ingest's Prometheus collectors.
type Metrics struct {
	bytesIn    *prometheus.CounterVec
	bitrateIn  *prometheus.GaugeVec
	rejections *prometheus.CounterVec

	rtspSourceUp *prometheus.GaugeVec
}

// NewMetrics registers the collectors on reg (tests pass a fresh registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "edgecache", "packager"
	m := &Metrics{
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_bytes_total",
			Help: "Bytes received from publishers; rate() of it is the ingest bitrate.",
		}, []string{"stream"}),
		bitrateIn: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "ingest_bitrate_bits_per_second",
			Help: "Ingest bitrate of a stream over the last few seconds.",
		}, []string{"stream"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "publish_rejections_total",
			Help: "Publish attempts rejected, by reason.",
		}, []string{"reason"}),
		rtspSourceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "rtsp_source_up",
			Help: "1 while a pulled RTSP source is playing, 0 while it connects or waits to retry.",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.bytesIn, m.bitrateIn, m.rejections, m.rtspSourceUp} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register packager metrics: %w", err)
		}
	}
	return m, nil
}

// Forget drops a removed stream's labelled series.
func (m *Metrics) Forget(stream string) {
	m.bytesIn.DeleteLabelValues(stream)
	m.bitrateIn.DeleteLabelValues(stream)
}
