// Package herd releases a thundering herd on one object: N clients, each
// on its own connection opened beforehand, send the same GET at the same
// instant. It measures what each client saw (time to the first response
// byte at the socket, time to the last, a checksum of the body) and how many
// times the edge went to the origin for them, which for an uncached object
// behind a collapsing cache should be once.
package herd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/edgecache/edgecache/bench/loopback"
	"github.com/edgecache/edgecache/bench/stats"
)

// DefaultMaxClients caps Config.Clients when MaxClients is 0.
const DefaultMaxClients = 5000

// DefaultMetricName is the counter summed from MetricsURL by default.
const DefaultMetricName = "edgecache_origin_requests_total"

// ErrConfig is wrapped by every Config validation error.
var ErrConfig = errors.New("invalid herd config")

// Config describes one herd. Zero fields take the defaults their docs
// give.
type Config struct {
	// URL is the object, http only. Required. It should not be cached at
	// the edge yet, or the herd measures hits. Its host must be loopback
	// or AllowHost.
	URL string
	// Clients is the size of the herd. Required, 1 to MaxClients.
	Clients int
	// MaxClients caps Clients; 0 means DefaultMaxClients.
	MaxClients int
	// Timeout bounds the herd from the first dial to the last body; 0
	// means 30s. Clients not done by then count as timed out.
	Timeout time.Duration
	// OriginCountURL returns a number (the origin's request count, say)
	// read before and after the herd. "" means not used.
	OriginCountURL string
	// MetricsURL is a Prometheus text endpoint; the samples of MetricName
	// are summed before and after the herd. Used when OriginCountURL is
	// "". "" means not used.
	MetricsURL string
	// MetricName is the counter to sum; "" means DefaultMetricName. Every
	// series counts: other traffic during the herd (playlist refreshes)
	// shows up in the delta.
	MetricName string
	// Settle is how long to wait after the last client before reading
	// the counter again, so that a counter updated at the end of a fill
	// has caught up; 0 means 250ms.
	Settle time.Duration
	// AllowHost names one non-loopback host that may be targeted; ""
	// means loopback only. It applies to the counter URLs too.
	AllowHost string
	// Resolver resolves host names for the loopback check; nil means
	// net.DefaultResolver.
	Resolver loopback.Resolver
	// Sum is the checksum each client takes of its body to tell the
	// bodies apart: SumSHA256 ("" too), or SumCRC32C.
	Sum string
}

// The checksums Config.Sum names.
const (
	// SumSHA256 is the body's SHA-256, to compare with `sha256sum` of
	// the origin's file. 200 clients streaming 4 MB/s each hash 800
	// MB/s: half a core or more on a small machine.
	SumSHA256 = "sha256"
	// SumCRC32C is the body's CRC-32C (Castagnoli), ten to fifteen
	// times cheaper: for a herd that shares the machine with the edge it
	// measures, where the herd's own CPU would delay the edge. It tells
	// apart any two bodies that differ by chance (a cut, a byte
	// changed) but not ones made to collide.
	SumCRC32C = "crc32c"
)

func (c Config) withDefaults() Config {
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MetricName == "" {
		c.MetricName = DefaultMetricName
	}
	if c.Settle == 0 {
		c.Settle = 250 * time.Millisecond
	}
	if c.Sum == "" {
		c.Sum = SumSHA256
	}
	return c
}

func (c Config) validate() (*url.URL, error) {
	switch {
	case c.URL == "":
		return nil, fmt.Errorf("no URL: %w", ErrConfig)
	case c.Clients < 1:
		return nil, fmt.Errorf("clients %d: want at least 1: %w", c.Clients, ErrConfig)
	case c.Clients > c.MaxClients:
		return nil, fmt.Errorf("clients %d is over the cap of %d (raise -max-clients to allow it): %w", c.Clients, c.MaxClients, ErrConfig)
	case c.Timeout < 0 || c.Settle < 0:
		return nil, fmt.Errorf("negative timeout or settle: %w", ErrConfig)
	case c.Sum != SumSHA256 && c.Sum != SumCRC32C:
		return nil, fmt.Errorf("sum %q: want %s or %s: %w", c.Sum, SumSHA256, SumCRC32C, ErrConfig)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("URL: %w: %w", ErrConfig, err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("URL %s: only http (each client writes its request on a raw connection): %w", c.URL, ErrConfig)
	}
	return u, nil
}

// Report is what one herd saw. It marshals to JSON as is.
type Report struct {
	URL     string    `json:"url"`
	Clients int       `json:"clients"`
	Started time.Time `json:"started"`
	// OriginFetches is the counter delta, nil without a counter source.
	OriginFetches *OriginCount `json:"origin_fetches,omitempty"`
	// TTFBMs: from a client's write of its request to the first byte of
	// the response read from its socket. CompletionMs: to the last byte
	// of the body. Successful exchanges only.
	TTFBMs       stats.Summary `json:"ttfb_ms"`
	CompletionMs stats.Summary `json:"completion_ms"`
	// ReleaseSpreadMs: from the first client's write to the last's, how
	// close to "at once" the herd was.
	ReleaseSpreadMs float64        `json:"release_spread_ms"`
	Statuses        map[string]int `json:"statuses"`               // status code -> clients
	CacheStatus     map[string]int `json:"cache_status,omitempty"` // X-Cache-Status -> clients
	// Errors by stage: write, header (no response), body (cut short or
	// timed out).
	Errors map[string]int `json:"errors,omitempty"`
	// Bodies are the distinct complete bodies, most common first.
	Bodies []Body `json:"bodies"`
	// Identical: every client got a complete response, all with the same
	// status and the same bytes.
	Identical bool `json:"identical"`
}

// OriginCount is a before/after counter reading.
type OriginCount struct {
	Source string  `json:"source"` // the URL, and the metric name for Prometheus
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Delta  float64 `json:"delta"`
}

// Body is one distinct response body, with the checksum Config.Sum
// named.
type Body struct {
	SHA256  string `json:"sha256,omitempty"`
	CRC32C  string `json:"crc32c,omitempty"`
	Size    int64  `json:"size"`
	Status  int    `json:"status"`
	Clients int    `json:"clients"`
}

// result is one client's exchange.
type result struct {
	wrote      time.Time
	ttfb, done time.Duration
	status     int
	cache      string
	size       int64
	sum        [sha256.Size]byte // the checksum, at its start
	errStage   string            // "" when complete
}

// Run releases the herd and reports. It returns an error only when the
// herd cannot be set up: a bad config, a refused target, connections that
// cannot be opened, a counter that cannot be read before. Failed
// exchanges are in the Report.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Report, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "herd")
	cfg = cfg.withDefaults()
	u, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	guard := loopback.Guard{AllowHost: cfg.AllowHost, Resolver: cfg.Resolver}
	for _, s := range []string{cfg.URL, cfg.OriginCountURL, cfg.MetricsURL} {
		if s == "" {
			continue
		}
		if err := guard.CheckURL(ctx, s); err != nil {
			return nil, err
		}
	}
	counter := newCounter(cfg, guard)
	if counter != nil {
		defer counter.close()
	}
	// The herd's own bound; the counter is read outside it, so that a
	// herd that used all of it still gets its origin count.
	herdCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	conns, err := dialAll(herdCtx, guard, hostPort(u), cfg.Clients)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Every client's read ends by the deadline, so the herd is bounded
	// even against a server that never answers.
	deadline, _ := herdCtx.Deadline()
	for _, c := range conns {
		c.SetDeadline(deadline)
	}
	// A caller that gives up (ctx ended) ends the herd too: a deadline in
	// the past wakes every blocked read and write at once.
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.SetDeadline(time.Unix(1, 0))
		}
	})
	defer stop()
	var before float64
	if counter != nil {
		if before, err = counter.read(ctx); err != nil {
			return nil, fmt.Errorf("origin count before: %w", err)
		}
	}
	reqBytes := requestBytes(u)
	req := &http.Request{Method: http.MethodGet, URL: u}

	results := make([]result, len(conns))
	release := make(chan struct{})
	var ready, done sync.WaitGroup
	for i, c := range conns {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-release
			results[i] = exchange(c, reqBytes, req, cfg.Sum)
		})
	}
	ready.Wait()
	started := time.Now()
	log.Debug("releasing", "clients", len(conns), "url", u.String())
	close(release)
	done.Wait()

	rep := summarize(u.String(), started, results, cfg.Sum)
	if counter != nil {
		if err := sleep(ctx, cfg.Settle); err == nil {
			after, err := counter.read(ctx)
			if err != nil {
				log.Warn("origin count after", "err", err)
			} else {
				rep.OriginFetches = &OriginCount{Source: counter.source, Before: before, After: after, Delta: after - before}
			}
		}
	}
	return rep, nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// dialAll opens n connections, a few at a time so as not to overflow the
// listener's accept backlog.
func dialAll(ctx context.Context, guard loopback.Guard, addr string, n int) ([]net.Conn, error) {
	dial := guard.DialContext(&net.Dialer{Timeout: 5 * time.Second})
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = dial(ctx, "tcp", addr)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, fmt.Errorf("open %d connections to %s: %w", n, addr, err)
	}
	return conns, nil
}

// requestBytes is the request every client writes, serialised once so
// that the release costs each client one write.
func requestBytes(u *url.URL) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: edgecache-herd\r\nAccept: */*\r\n\r\n", u.RequestURI(), u.Host)
	return b.Bytes()
}

// firstByteConn notes when the first response byte is read.
type firstByteConn struct {
	net.Conn
	first time.Time
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.first.IsZero() {
		c.first = time.Now()
	}
	return n, err
}

// exchange writes the request and reads the whole response, taking the
// checksum sum names of its body.
func exchange(c net.Conn, reqBytes []byte, req *http.Request, sum string) result {
	fc := &firstByteConn{Conn: c}
	r := result{wrote: time.Now()}
	if _, err := c.Write(reqBytes); err != nil {
		r.errStage = "write"
		return r
	}
	resp, err := http.ReadResponse(bufio.NewReader(fc), req)
	if err != nil {
		r.errStage = "header"
		return r
	}
	defer resp.Body.Close()
	r.ttfb = fc.first.Sub(r.wrote)
	r.status = resp.StatusCode
	r.cache = resp.Header.Get("X-Cache-Status")
	var h hash.Hash = sha256.New()
	if sum == SumCRC32C {
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli)) // made once by the package
	}
	r.size, err = io.Copy(h, resp.Body)
	r.done = time.Since(r.wrote)
	if err != nil {
		r.errStage = "body"
		return r
	}
	h.Sum(r.sum[:0])
	return r
}

func summarize(u string, started time.Time, results []result, sum string) *Report {
	rep := &Report{
		URL:         u,
		Clients:     len(results),
		Started:     started,
		Statuses:    make(map[string]int),
		CacheStatus: make(map[string]int),
	}
	var ttfb, done []float64
	statuses := make(map[int]int)
	// A body is its checksum, status and size: the size too, as 32 bits
	// of CRC-32C can collide.
	type bodyKey struct {
		sum    [sha256.Size]byte
		status int
		size   int64
	}
	bodies := make(map[bodyKey]*Body)
	first, last := results[0].wrote, results[0].wrote
	for _, r := range results {
		if r.wrote.Before(first) {
			first = r.wrote
		}
		if r.wrote.After(last) {
			last = r.wrote
		}
		if r.status != 0 {
			statuses[r.status]++
			if r.cache != "" {
				rep.CacheStatus[r.cache]++
			}
		}
		if r.errStage != "" {
			if rep.Errors == nil {
				rep.Errors = make(map[string]int)
			}
			rep.Errors[r.errStage]++
			continue
		}
		ttfb = append(ttfb, r.ttfb.Seconds()*1000)
		done = append(done, r.done.Seconds()*1000)
		k := bodyKey{r.sum, r.status, r.size}
		b := bodies[k]
		if b == nil {
			b = &Body{Size: r.size, Status: r.status}
			if sum == SumCRC32C {
				b.CRC32C = hex.EncodeToString(r.sum[:crc32.Size])
			} else {
				b.SHA256 = hex.EncodeToString(r.sum[:])
			}
			bodies[k] = b
		}
		b.Clients++
	}
	for code, n := range statuses {
		rep.Statuses[strconv.Itoa(code)] = n
	}
	rep.ReleaseSpreadMs = last.Sub(first).Seconds() * 1000
	rep.TTFBMs = stats.Summarize(ttfb)
	rep.CompletionMs = stats.Summarize(done)
	for _, b := range bodies {
		rep.Bodies = append(rep.Bodies, *b)
	}
	slices.SortFunc(rep.Bodies, func(a, b Body) int {
		if a.Clients != b.Clients {
			return b.Clients - a.Clients
		}
		if a.SHA256+a.CRC32C < b.SHA256+b.CRC32C { // one of each is empty
			return -1
		}
		return 1
	})
	rep.Identical = len(rep.Errors) == 0 && len(rep.Bodies) == 1
	if len(rep.CacheStatus) == 0 {
		rep.CacheStatus = nil
	}
	return rep
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
