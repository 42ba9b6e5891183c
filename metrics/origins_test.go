package metrics_test

import (
	"testing"

	"github.com/edgecache/edgecache/metrics"
	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/edgecache/edgecache/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

func TestOriginCollector(t *testing.T) {
	s, err := upstream.New(upstream.Config{Route: "live", Origins: []upstream.OriginConfig{
		{URL: "http://p1.example/"}, {URL: "http://p2.example/", Role: "backup"}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := metrics.RegisterOrigins(reg, func() []*upstream.Set { return []*upstream.Set{s} }); err != nil {
		t.Fatal(err)
	}
	p1 := s.Origins()[0]
	s.Report(p1, upstream.Success)
	s.Report(p1, upstream.Success)
	s.Report(p1, upstream.ConnectError)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edgecache_origin_outcomes_total", map[string]string{"origin": "http://p1.example/", "outcome": "success"}, 2},
		{"edgecache_origin_outcomes_total", map[string]string{"origin": "http://p1.example/", "outcome": "connect_error"}, 1},
		{"edgecache_origin_up", map[string]string{"origin": "http://p1.example/"}, 0},
		{"edgecache_origin_up", map[string]string{"origin": "http://p2.example/", "role": "backup", "route": "live"}, 1},
		{"edgecache_origin_down_total", map[string]string{"origin": "http://p1.example/"}, 1},
	} {
		if v, ok := metricstest.Value(t, reg, tc.name, tc.labels); !ok || v != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, v, ok, tc.want)
		}
	}
	if err := metrics.RegisterOrigins(reg, func() []*upstream.Set { return nil }); err == nil {
		t.Error("registering twice on one registry must fail")
	}
}
