package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	testStatuses = []string{"MISS", "HIT"}
	testClasses  = []string{"segment", "other"}
)

// newTest returns metrics on a fresh registry, and the registry.
func newTest(t *testing.T, stats func() cache.Stats) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, stats, testStatuses, testClasses)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

type series struct {
	name   string
	labels map[string]string
	want   float64
}

func TestMethods(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(m *Metrics)
		want []series
	}{
		{"Request counts the request and its bytes", func(m *Metrics) { m.Request("HIT", "segment", 100); m.Request("HIT", "segment", 0) }, []series{
			{"edgecache_requests_total", map[string]string{"cache_status": "HIT", "class": "segment"}, 2},
			{"edgecache_requests_total", map[string]string{"cache_status": "MISS", "class": "segment"}, 0},
			{"edgecache_response_bytes_total", map[string]string{"class": "segment"}, 100},
		}},
		{"Request with labels New was not given is still counted", func(m *Metrics) { m.Request("STALE", "part", 7) }, []series{
			{"edgecache_requests_total", map[string]string{"cache_status": "STALE", "class": "part"}, 1},
			{"edgecache_response_bytes_total", map[string]string{"class": "part"}, 7},
		}},
		{"OriginRequest", func(m *Metrics) { m.OriginRequest("r", "fill", "2xx") }, []series{
			{"edgecache_origin_requests_total", map[string]string{"route": "r", "kind": "fill", "result": "2xx"}, 1},
		}},
		{"FillDone", func(m *Metrics) {
			m.FillDone(time.Millisecond, true)
			m.FillDone(time.Second, false)
			m.FillDone(time.Second, false)
		}, []series{
			{"edgecache_fill_duration_seconds", map[string]string{"result": "ok"}, 1},
			{"edgecache_fill_duration_seconds", map[string]string{"result": "error"}, 2},
		}},
		{"Handoff", func(m *Metrics) { m.Handoff("wait"); m.Handoff("head"); m.Handoff("wait") }, []series{
			{"edgecache_front_handoffs_total", map[string]string{"reason": "wait"}, 2},
			{"edgecache_front_handoffs_total", map[string]string{"reason": "head"}, 1},
		}},
		{"Joined", func(m *Metrics) { m.Joined(); m.Joined() }, []series{
			{"edgecache_fill_waiters_total", nil, 2},
		}},
		{"Stale", func(m *Metrics) { m.Stale("updating") }, []series{
			{"edgecache_stale_served_total", map[string]string{"reason": "updating"}, 1},
		}},
		{"Prefetch", func(m *Metrics) { m.Prefetch("segment") }, []series{
			{"edgecache_prefetches_total", map[string]string{"class": "segment"}, 1},
		}},
		{"GateReject", func(m *Metrics) { m.GateReject("restart") }, []series{
			{"edgecache_playlist_rejections_total", map[string]string{"reason": "restart"}, 1},
		}},
		{"StreamRequest", func(m *Metrics) {
			m.StreamRequest("/live/a", "segment", true)
			m.StreamRequest("/live/a", "segment", false)
			m.StreamRequest("/live/a", "segment", false)
		}, []series{
			{"edgecache_stream_requests_total", map[string]string{"stream": "/live/a", "class": "segment", "result": "hit"}, 1},
			{"edgecache_stream_requests_total", map[string]string{"stream": "/live/a", "class": "segment", "result": "miss"}, 2},
		}},
		{"Blocking", func(m *Metrics) { m.Blocking("joined", 100*time.Millisecond) }, []series{
			{"edgecache_llhls_blocking_requests_total", map[string]string{"result": "joined"}, 1},
			{"edgecache_llhls_hold_seconds", nil, 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newTest(t, nil)
			tc.do(m)
			for _, s := range tc.want {
				got, ok := metricstest.Value(t, reg, s.name, s.labels)
				if !ok || got != s.want {
					t.Errorf("%s%v = %v (present %v), want %v", s.name, s.labels, got, ok, s.want)
				}
			}
		})
	}
}

// TestRequestCountersUpFront: every status and class New is given has
// its counter before the first request, so a dashboard sees zeros rather
// than nothing, and the hot path never creates one.
func TestRequestCountersUpFront(t *testing.T) {
	_, reg := newTest(t, nil)
	for _, s := range testStatuses {
		for _, c := range testClasses {
			if _, ok := metricstest.Value(t, reg, "edgecache_requests_total", map[string]string{"cache_status": s, "class": c}); !ok {
				t.Errorf("no counter for %s/%s", s, c)
			}
		}
	}
}

func TestNilMetrics(t *testing.T) {
	var m *Metrics
	// None of these may panic: a proxy built without metrics passes nil.
	m.Request("HIT", "segment", 1)
	m.OriginRequest("r", "fill", "2xx")
	m.FillDone(time.Second, true)
	m.Joined()
	m.Stale("error")
	m.Prefetch("segment")
	m.GateReject("restart")
	m.StreamRequest("s", "segment", true)
	m.Blocking("cached", 0)
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name              string
		statuses, classes []string
		want              string
	}{
		{"no statuses", nil, testClasses, "no cache status labels"},
		{"no classes", testStatuses, nil, "no class labels"},
		{"repeated status", []string{"HIT", "HIT"}, testClasses, `cache status label "HIT"`},
		{"empty class", testStatuses, []string{""}, `class label ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(prometheus.NewRegistry(), nil, tc.statuses, tc.classes)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	t.Run("registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if _, err := New(reg, nil, testStatuses, testClasses); err != nil {
			t.Fatal(err)
		}
		if _, err := New(reg, nil, testStatuses, testClasses); err == nil || !strings.Contains(err.Error(), "metrics: register") {
			t.Errorf("second New on one registry: %v", err)
		}
	})
}

func TestCacheCollector(t *testing.T) {
	st := cache.Stats{
		Bytes: 10, MaxBytes: 20, Entries: 3, Evictions: 4, Rejected: 5, FillsInFlight: 6,
		Fills: 7, Joins: 8, InflightBytes: 9, MaxInflightBytes: 11, BudgetDemotions: 12,
	}
	_, reg := newTest(t, func() cache.Stats { return st })
	for name, want := range map[string]float64{
		"edgecache_cache_bytes":                      10,
		"edgecache_cache_max_bytes":                  20,
		"edgecache_cache_entries":                    3,
		"edgecache_cache_evictions_total":            4,
		"edgecache_cache_admission_rejections_total": 5,
		"edgecache_fills_in_flight":                  6,
		"edgecache_fills_total":                      7,
		"edgecache_fill_joins_total":                 8,
		"edgecache_inflight_bytes":                   9,
		"edgecache_inflight_max_bytes":               11,
		"edgecache_inflight_demotions_total":         12,
	} {
		if got, ok := metricstest.Value(t, reg, name, nil); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	// Read at scrape time, not at registration.
	st.Entries = 30
	if got, _ := metricstest.Value(t, reg, "edgecache_cache_entries", nil); got != 30 {
		t.Errorf("entries after a change = %v, want 30", got)
	}
}
