package herd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgecache/edgecache/bench/loopback"
)

// ErrCounter is wrapped when a counter endpoint does not give a number.
var ErrCounter = errors.New("unreadable counter")

// maxCounterBytes bounds a counter or metrics page read into memory.
const maxCounterBytes = 16 << 20

// counter reads the origin fetch count from a plain-number URL or a
// Prometheus endpoint.
type counter struct {
	url    string
	source string
	metric string // "" for a plain number
	client *http.Client
	close  func()
}

// newCounter returns nil when cfg names no counter.
func newCounter(cfg Config, guard loopback.Guard) *counter {
	c := &counter{}
	switch {
	case cfg.OriginCountURL != "":
		c.url, c.source = cfg.OriginCountURL, cfg.OriginCountURL
	case cfg.MetricsURL != "":
		c.url, c.metric = cfg.MetricsURL, cfg.MetricName
		c.source = cfg.MetricsURL + " " + cfg.MetricName
	default:
		return nil
	}
	tr := guard.Transport(2)
	c.client = &http.Client{Transport: tr}
	c.close = tr.CloseIdleConnections
	return c
}

func (c *counter) read(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", c.url, err)
	}
	if c.metric != "" {
		// The text format; a registry would otherwise offer protobuf.
		req.Header.Set("Accept", "text/plain;version=0.0.4")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read %s: status %d: %w", c.url, resp.StatusCode, ErrCounter)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCounterBytes))
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", c.url, err)
	}
	if c.metric == "" {
		return parseNumber(body)
	}
	return sumMetric(body, c.metric)
}

// parseNumber reads a body that is one number, surrounded by whitespace.
func parseNumber(body []byte) (float64, error) {
	s := strings.TrimSpace(string(body))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%.40q is not a number: %w", s, ErrCounter)
	}
	return v, nil
}

// sumMetric adds up every sample of the counter (or gauge, or untyped
// metric) name in a Prometheus text exposition. A name that is absent
// sums to 0: a counter vector has no series before its first increment.
func sumMetric(body []byte, name string) (float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return 0, fmt.Errorf("metrics: %w: %w", ErrCounter, err)
	}
	mf, ok := families[name]
	if !ok {
		return 0, nil
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		default:
			return 0, fmt.Errorf("metric %s is neither a counter, a gauge nor untyped: %w", name, ErrCounter)
		}
	}
	return sum, nil
}
