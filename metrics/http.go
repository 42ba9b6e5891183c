package metrics

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are counted per response as it went out: every response,
// the edge's own refusals and errors included, so they agree with an
// access log line for line.
type httpMetrics struct {
	responses *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	mu        sync.RWMutex
	counters  map[respKey]prometheus.Counter
	observers map[[2]string]prometheus.Observer
	starved   *prometheus.CounterVec
	purges    *prometheus.CounterVec
	purged    *prometheus.CounterVec
	refused   *prometheus.CounterVec
}

type respKey struct {
	code          int
	class, status string
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecache_http_responses_total",
			Help: "Responses sent, by HTTP status code, object class and X-Cache-Status (every response, the edge's own errors included; an unusual code counts as \"other\").",
		}, []string{"code", "class", "cache_status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgecache_request_duration_seconds",
			Help:    "Time from a request's head to its response's last byte, by object class and X-Cache-Status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"class", "cache_status"}),
		counters:  map[respKey]prometheus.Counter{},
		observers: map[[2]string]prometheus.Observer{},
		starved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecache_cmcd_buffer_starvation_total",
			Help: "Requests whose player reported buffer starvation (CMCD bs, CTA-5004), by stream.",
		}, []string{"stream"}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecache_purges_total",
			Help: "Purge requests on the admin listener, by mode (hard, soft) and scope (url, prefix).",
		}, []string{"mode", "scope"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecache_auth_refusals_total",
			Help: "Requests refused by a route's token check, by route and reason (missing, malformed, bad_hash, expired, bad_signature, uri, ip, ...).",
		}, []string{"route", "reason"}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgecache_purged_total",
			Help: "What purges reached, by mode and what (entries stored, fills in flight).",
		}, []string{"mode", "what"}),
	}
}

func (h *httpMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.responses, h.duration, h.starved, h.purges, h.purged, h.refused}
}

// codeLabel bounds the code label: an origin may send any three digits.
func codeLabel(code int) string {
	switch code {
	case 200, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 410, 412, 413, 414, 416, 429, 431,
		500, 501, 502, 503, 504, 508:
		return strconv.Itoa(code)
	}
	return "other"
}

// Response counts one response sent with its duration.
func (m *Metrics) Response(code int, class, status string, d time.Duration) {
	if m == nil {
		return
	}
	h := m.http
	k := respKey{code, class, status}
	h.mu.RLock()
	c, o := h.counters[k], h.observers[[2]string{class, status}]
	h.mu.RUnlock()
	if c == nil || o == nil {
		c = h.responses.WithLabelValues(codeLabel(code), class, status)
		o = h.duration.WithLabelValues(class, status)
		h.mu.Lock()
		if len(h.counters) < 4096 {
			h.counters[k] = c
		}
		h.observers[[2]string{class, status}] = o
		h.mu.Unlock()
	}
	c.Inc()
	o.Observe(d.Seconds())
}

// AuthRefused counts a request a route's token check refused.
func (m *Metrics) AuthRefused(route, reason string) {
	if m == nil {
		return
	}
	m.http.refused.WithLabelValues(route, reason).Inc()
}

// BufferStarvation counts a player's report of buffer starvation.
func (m *Metrics) BufferStarvation(stream string) {
	if m == nil {
		return
	}
	m.http.starved.WithLabelValues(stream).Inc()
}

// Purged counts one purge request and what it reached.
func (m *Metrics) Purged(mode, scope string, entries, fills int) {
	if m == nil {
		return
	}
	m.http.purges.WithLabelValues(mode, scope).Inc()
	m.http.purged.WithLabelValues(mode, "entries").Add(float64(entries))
	m.http.purged.WithLabelValues(mode, "fills").Add(float64(fills))
}

// viewerCollector reads the concurrent viewers per stream at scrape time.
type viewerCollector struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

// NewViewerCollector reports concurrent viewers per stream, read from
// count at each scrape.
func NewViewerCollector(count func() map[string]int) prometheus.Collector {
	return &viewerCollector{
		desc: prometheus.NewDesc("edgecache_viewers",
			"Concurrent viewers per stream: distinct sessions (CMCD sid, else client address and User-Agent) seen within two target durations.",
			[]string{"stream"}, nil),
		count: count,
	}
}

func (c *viewerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *viewerCollector) Collect(ch chan<- prometheus.Metric) {
	for s, n := range c.count() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), s)
	}
}

// RegisterBodyBuffer registers the gauge of the memory request bodies
// being read whole hold, read from held at each scrape.
func RegisterBodyBuffer(reg prometheus.Registerer, held func() int64) error {
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "edgecache_request_body_buffer_bytes",
		Help: "Memory held by request bodies being read whole before an origin is asked (at most client.body_buffer_bytes).",
	}, func() float64 { return float64(held()) })); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// RegisterConns registers the viewer connection gauge and the refusals
// counter, read from open and refused at each scrape.
func RegisterConns(reg prometheus.Registerer, open func() int64, refused func() uint64) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgecache_connections",
			Help: "Viewer connections open now (counted against client.max_conns).",
		}, func() float64 { return float64(open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edgecache_connections_refused_total",
			Help: "Viewer connections closed as they were accepted, client.max_conns being reached.",
		}, func() float64 { return float64(refused()) }),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}
