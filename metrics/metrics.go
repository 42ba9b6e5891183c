// Package metrics defines edgecache's Prometheus metrics. Everything is
// registered on the Registerer passed in, so tests use a fresh registry and
// two servers in one process never collide.
package metrics

import (
	"fmt"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the proxy's collectors. The request counters are created up
// front for every status and class New is given, so the hot path is a map
// lookup and an atomic add, with no allocation.
type Metrics struct {
	requests     map[[2]string]prometheus.Counter
	bytes        map[string]prometheus.Counter
	requestVec   *prometheus.CounterVec // for labels New was not given
	bytesVec     *prometheus.CounterVec
	originReqs   *prometheus.CounterVec
	fillDuration *prometheus.HistogramVec
	fillWaiters  prometheus.Counter
	stale        *prometheus.CounterVec
	prefetches   *prometheus.CounterVec
	gate         *prometheus.CounterVec
	streamReqs   *prometheus.CounterVec
	blocking     *prometheus.CounterVec
	blockHold    prometheus.Histogram
	handoffs     *prometheus.CounterVec
	http         *httpMetrics
}

// New registers the metrics on reg. stats, when non-nil, is read at scrape
// time for the cache gauges. statuses and classes are every X-Cache-Status
// value and object class label Request will see, from their owners
// (proxy.CacheStatuses, proxy.ClassNames): this package keeps no copy of
// them that could fall behind. Each must be non-empty and without
// duplicates.
func New(reg prometheus.Registerer, stats func() cache.Stats, statuses, classes []string) (*Metrics, error) {
	if err := checkLabels("cache status", statuses); err != nil {
		return nil, err
	}
	if err := checkLabels("class", classes); err != nil {
		return nil, err
	}
	m := &Metrics{
		requests: make(map[[2]string]prometheus.Counter),
		bytes:    make(map[string]prometheus.Counter),
		http:     newHTTPMetrics(),
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_requests_total",
		Help: "Client requests by X-Cache-Status and object class.",
	}, []string{"cache_status", "class"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_response_bytes_total",
		Help: "Body bytes sent to clients, by object class.",
	}, []string{"class"})
	m.originReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_origin_requests_total",
		Help: "Requests sent to origins, by route, kind (fill, refresh, prefetch, bypass) and result (status code class or error).",
	}, []string{"route", "kind", "result"})
	m.fillDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "edgecache_fill_duration_seconds",
		Help:    "Time from the start of a fill to its last byte, by result.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 4, 8, 16, 32},
	}, []string{"result"})
	m.fillWaiters = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "edgecache_fill_waiters_total",
		Help: "Requests that attached to a fill another request started (collapsed misses).",
	})
	m.stale = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_stale_served_total",
		Help: "Stale responses served, by reason (updating, error).",
	}, []string{"reason"})
	m.prefetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_prefetches_total",
		Help: "Background prefetches of objects a new playlist lists, by class.",
	}, []string{"class"})
	m.gate = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_playlist_rejections_total",
		Help: "New playlists the sanity gate did not trust, by reason.",
	}, []string{"reason"})
	m.streamReqs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_stream_requests_total",
		Help: "Requests by stream (playlist path, bounded cardinality), class and whether the cache answered (hit) or the origin did (miss).",
	}, []string{"stream", "class", "result"})
	m.blocking = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_llhls_blocking_requests_total",
		Help: "LL-HLS blocking playlist requests (_HLS_msn) by how the edge answered: cached (a cached playlist already reached the target), joined (held on another viewer's upstream request), upstream (held on one it started), bad_request (400 at the edge), ended (EXT-X-ENDLIST: directives ignored).",
	}, []string{"result"})
	m.blockHold = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "edgecache_llhls_hold_seconds",
		Help:    "How long blocking playlist requests were held before their answer's head.",
		Buckets: []float64{.001, .01, .05, .1, .2, .333, .5, 1, 2, 4, 8},
	})
	m.handoffs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgecache_front_handoffs_total",
		Help: "Requests the HTTP/1.1 front gave to Go's net/http server, by reason: wait (a miss, a refresh or a fill to wait on), blocking (an LL-HLS blocking request), head (a request head outside the front's strict subset: the connection stays with net/http).",
	}, []string{"reason"})
	cs := []prometheus.Collector{requests, bytes, m.originReqs, m.fillDuration, m.fillWaiters, m.stale, m.prefetches, m.gate, m.streamReqs, m.blocking, m.blockHold, m.handoffs}
	cs = append(cs, m.http.collectors()...)
	if stats != nil {
		cs = append(cs, newCacheCollector(stats))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	m.requestVec, m.bytesVec = requests, bytes
	for _, s := range statuses {
		for _, c := range classes {
			m.requests[[2]string{s, c}] = requests.WithLabelValues(s, c)
		}
	}
	for _, c := range classes {
		m.bytes[c] = bytes.WithLabelValues(c)
	}
	return m, nil
}

// checkLabels refuses an empty or repeated label list: either means the
// owner's list is broken, and a counter would go missing.
func checkLabels(what string, labels []string) error {
	if len(labels) == 0 {
		return fmt.Errorf("metrics: no %s labels", what)
	}
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		if l == "" || seen[l] {
			return fmt.Errorf("metrics: %s label %q empty or repeated", what, l)
		}
		seen[l] = true
	}
	return nil
}

// Request counts one client request and its body bytes. A status or class
// New was not given is still counted, on a slower path that allocates
// (its counter is looked up by label each time), never dropped.
func (m *Metrics) Request(status, class string, n int64) {
	if m == nil {
		return
	}
	c := m.requests[[2]string{status, class}]
	if c == nil {
		c = m.requestVec.WithLabelValues(status, class)
	}
	c.Inc()
	if n <= 0 {
		return
	}
	b := m.bytes[class]
	if b == nil {
		b = m.bytesVec.WithLabelValues(class)
	}
	b.Add(float64(n))
}

// OriginRequest counts one request to an origin.
func (m *Metrics) OriginRequest(route, kind, result string) {
	if m == nil {
		return
	}
	m.originReqs.WithLabelValues(route, kind, result).Inc()
}

// FillDone observes a finished fill.
func (m *Metrics) FillDone(d time.Duration, ok bool) {
	if m == nil {
		return
	}
	r := "ok"
	if !ok {
		r = "error"
	}
	m.fillDuration.WithLabelValues(r).Observe(d.Seconds())
}

// Handoff counts a request the front gave to net/http, by reason.
func (m *Metrics) Handoff(reason string) {
	if m == nil {
		return
	}
	m.handoffs.WithLabelValues(reason).Inc()
}

// Joined counts a request that attached to someone else's fill.
func (m *Metrics) Joined() {
	if m == nil {
		return
	}
	m.fillWaiters.Inc()
}

// Stale counts a stale response served for reason ("updating" or "error").
func (m *Metrics) Stale(reason string) {
	if m == nil {
		return
	}
	m.stale.WithLabelValues(reason).Inc()
}

// Prefetch counts a background prefetch.
func (m *Metrics) Prefetch(class string) {
	if m == nil {
		return
	}
	m.prefetches.WithLabelValues(class).Inc()
}

// GateReject counts a playlist the sanity gate refused.
func (m *Metrics) GateReject(reason string) {
	if m == nil {
		return
	}
	m.gate.WithLabelValues(reason).Inc()
}

// StreamRequest counts a request against its stream.
func (m *Metrics) StreamRequest(stream, class string, hit bool) {
	if m == nil {
		return
	}
	r := "miss"
	if hit {
		r = "hit"
	}
	m.streamReqs.WithLabelValues(stream, class, r).Inc()
}

// cacheCollector reads cache.Stats once per scrape.
type cacheCollector struct {
	stats                                               func() cache.Stats
	bytes, maxBytes, entries, evictions, rejected, fill *prometheus.Desc
	fills, joins                                        *prometheus.Desc
	inflight, maxInflight, demotions                    *prometheus.Desc
}

func newCacheCollector(stats func() cache.Stats) *cacheCollector {
	return &cacheCollector{
		stats:       stats,
		bytes:       prometheus.NewDesc("edgecache_cache_bytes", "Bytes the stored entries cost (bodies, headers, overhead).", nil, nil),
		maxBytes:    prometheus.NewDesc("edgecache_cache_max_bytes", "Configured byte budget of the cache.", nil, nil),
		entries:     prometheus.NewDesc("edgecache_cache_entries", "Entries stored.", nil, nil),
		evictions:   prometheus.NewDesc("edgecache_cache_evictions_total", "Entries evicted to make room or on expiry.", nil, nil),
		rejected:    prometheus.NewDesc("edgecache_cache_admission_rejections_total", "Entries the admission policy refused to store.", nil, nil),
		fill:        prometheus.NewDesc("edgecache_fills_in_flight", "Origin fills running now.", nil, nil),
		fills:       prometheus.NewDesc("edgecache_fills_total", "Origin fills started (one per collapsed miss, refresh or prefetch).", nil, nil),
		joins:       prometheus.NewDesc("edgecache_fill_joins_total", "Readers that attached to a running fill, prefetch joins included.", nil, nil),
		inflight:    prometheus.NewDesc("edgecache_inflight_bytes", "Bytes held by the buffers of fills in flight, counted as they arrive.", nil, nil),
		maxInflight: prometheus.NewDesc("edgecache_inflight_max_bytes", "Configured bound on the bytes fills in flight may hold (cache.max_inflight_bytes).", nil, nil),
		demotions:   prometheus.NewDesc("edgecache_inflight_demotions_total", "Fills that stopped collecting their body for the store because the in-flight budget was spent: they streamed on to their readers uncached.", nil, nil),
	}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.maxBytes, c.entries, c.evictions, c.rejected, c.fill, c.fills, c.joins, c.inflight, c.maxInflight, c.demotions} {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(c.maxBytes, prometheus.GaugeValue, float64(s.MaxBytes))
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(s.Evictions))
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(s.Rejected))
	ch <- prometheus.MustNewConstMetric(c.fill, prometheus.GaugeValue, float64(s.FillsInFlight))
	ch <- prometheus.MustNewConstMetric(c.fills, prometheus.CounterValue, float64(s.Fills))
	ch <- prometheus.MustNewConstMetric(c.joins, prometheus.CounterValue, float64(s.Joins))
	ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(s.InflightBytes))
	ch <- prometheus.MustNewConstMetric(c.maxInflight, prometheus.GaugeValue, float64(s.MaxInflightBytes))
	ch <- prometheus.MustNewConstMetric(c.demotions, prometheus.CounterValue, float64(s.BudgetDemotions))
}

// Blocking counts one LL-HLS blocking playlist request by how it was
// answered, and how long it was held.
func (m *Metrics) Blocking(result string, held time.Duration) {
	if m == nil {
		return
	}
	m.blocking.WithLabelValues(result).Inc()
	m.blockHold.Observe(held.Seconds())
}
