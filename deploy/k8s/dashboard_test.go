package k8s

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/metrics"
	"github.com/edgecache/edgecache/proxy"
)

const dashboardFile = "components/monitoring/edgecache-dashboard.json"

// descRecorder is a prometheus.Registerer that records the names of the
// metrics registered on it.
type descRecorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r *descRecorder) Unregister(prometheus.Collector) bool { return false }

// TestDashboard checks the Grafana dashboard: valid JSON with unique panel
// ids, every query on the data source variable, and every edgecache_
// metric it queries one that package metrics exports, so a renamed metric
// cannot leave a panel silently empty.
func TestDashboard(t *testing.T) {
	var dash struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID         int             `json:"id"`
			Title      string          `json:"title"`
			Datasource json.RawMessage `json:"datasource"`
			Targets    []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, dashboardFile), &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash.UID == "" || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("%s: want uid, title and panels", dashboardFile)
	}

	rec := &descRecorder{names: map[string]bool{}}
	if _, err := metrics.New(rec, func() cache.Stats { return cache.Stats{} }, proxy.CacheStatuses(), proxy.ClassNames()); err != nil {
		t.Fatal(err)
	}
	if len(rec.names) == 0 {
		t.Fatal("recorded no metric names from package metrics")
	}
	exported := func(name string) bool {
		if rec.names[name] {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && rec.names[base] {
				return true
			}
		}
		return false
	}

	metricRef := regexp.MustCompile(`\bedgecache_[a-z0-9_]+`)
	ids := map[int]bool{}
	var queried []string
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if !strings.Contains(string(p.Datasource), "${datasource}") {
			t.Errorf("panel %q: data source is not ${datasource}", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no queries", p.Title)
		}
		for _, q := range p.Targets {
			for _, m := range metricRef.FindAllString(q.Expr, -1) {
				if !exported(m) {
					t.Errorf("panel %q queries %s, which package metrics does not export", p.Title, m)
				}
				queried = append(queried, m)
			}
		}
	}
	// The panels the brief asks for: statuses, bytes, origin, fills and
	// collapsing, stale serves, fill latency.
	for _, m := range []string{"edgecache_requests_total", "edgecache_response_bytes_total", "edgecache_origin_requests_total",
		"edgecache_fills_total", "edgecache_fill_waiters_total", "edgecache_stale_served_total", "edgecache_fill_duration_seconds_bucket"} {
		if !slices.Contains(queried, m) {
			t.Errorf("no panel queries %s", m)
		}
	}
}
