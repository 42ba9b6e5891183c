package proxy

import (
	"testing"

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
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[[2]string]bool{}
	for _, f := range fams {
		if f.GetName() != "edgecache_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var k [2]string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "cache_status":
					k[0] = lp.GetValue()
				case "class":
					k[1] = lp.GetValue()
				}
			}
			have[k] = true
		}
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
