package proxy

import (
	"testing"

	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/prometheus/client_golang/prometheus"
)

// TestEveryStatusAndClassCounted: the proxy's metrics have a request
// counter for every X-Cache-Status it can send and every object class,
// made up front from the owners' lists: a status missing from
// CacheStatuses fails here, loudly, rather than being counted on the
// metrics' slow path unseen by a dashboard that expects zeros.
func TestEveryStatusAndClassCounted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Routes = []Route{{Prefix: "/", Origin: "http://127.0.0.1:1/"}}
	reg := prometheus.NewRegistry()
	p, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	have := map[[2]string]bool{}
	for _, ls := range metricstest.Labels(t, reg, "edgecache_requests_total") {
		have[[2]string{ls["cache_status"], ls["class"]}] = true
	}
	classes := ClassNames()
	for s := cacheStatus(0); s < numStatus; s++ {
		for _, c := range classes {
			if !have[[2]string{s.String(), c}] {
				t.Errorf("no request counter for %s/%s", s, c)
			}
		}
	}
	if want := int(numStatus) * len(classes); len(have) != want {
		t.Errorf("%d request counters, want %d", len(have), want)
	}
}
