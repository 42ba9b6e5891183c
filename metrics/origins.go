package metrics

import (
	"fmt"

	"github.com/edgecache/edgecache/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterOrigins registers, on reg, a collector that reads the state and
// counters of every origin of the given sets at scrape time:
// edgecache_origin_up, edgecache_origin_outcomes_total and
// edgecache_origin_down_total, labelled by route, origin URL and role.
func RegisterOrigins(reg prometheus.Registerer, sets func() []*upstream.Set) error {
	c := &originCollector{
		sets:     sets,
		up:       prometheus.NewDesc("edgecache_origin_up", "1 when the origin is in the try order (not marked down, or its backoff has run out).", []string{"route", "origin", "role"}, nil),
		outcomes: prometheus.NewDesc("edgecache_origin_outcomes_total", "Requests to the origin by outcome (success, connect_error, server_error, timeout, body_error).", []string{"route", "origin", "role", "outcome"}, nil),
		trips:    prometheus.NewDesc("edgecache_origin_down_total", "Times the origin was marked down.", []string{"route", "origin", "role"}, nil),
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("metrics: register origins: %w", err)
	}
	return nil
}

type originCollector struct {
	sets                func() []*upstream.Set
	up, outcomes, trips *prometheus.Desc
}

func (c *originCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.outcomes
	ch <- c.trips
}

func (c *originCollector) Collect(ch chan<- prometheus.Metric) {
	names := upstream.OutcomeNames()
	for _, s := range c.sets() {
		for _, st := range s.Stats() {
			up := 0.0
			if st.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, st.Route, st.URL, st.Role)
			ch <- prometheus.MustNewConstMetric(c.trips, prometheus.CounterValue, float64(st.Trips), st.Route, st.URL, st.Role)
			for i, n := range st.Outcomes {
				ch <- prometheus.MustNewConstMetric(c.outcomes, prometheus.CounterValue, float64(n), st.Route, st.URL, st.Role, names[i])
			}
		}
	}
}
