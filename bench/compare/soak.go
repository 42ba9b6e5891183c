package compare

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SoakSample is the edge's state at one moment of a soak.
type SoakSample struct {
	At         time.Duration `json:"at_ns"`
	RSS        int64         `json:"rss_bytes"`
	Goroutines float64       `json:"goroutines"`
	HeapInuse  float64       `json:"heap_inuse_bytes"`
	CacheBytes float64       `json:"cache_bytes"`
}

// SoakReport is a constant load held on edgecache for a long run, RSS
// sampled throughout: issue 17's "no growth of RSS over a 10-minute run".
type SoakReport struct {
	Started  time.Time     `json:"started"`
	Machine  string        `json:"machine"`
	Duration time.Duration `json:"duration_ns"`
	CacheMax int64         `json:"cache_max_bytes"`
	Load     string        `json:"load"`
	Samples  []SoakSample  `json:"samples"`
	Wrk      WrkResult     `json:"wrk"`
	GB       float64       `json:"gb_sent"`
	// Warm is the end of the warm-up: the first sample at which the cache
	// held at least 90% of its bound. Growth is measured from there.
	Warm time.Duration `json:"warm_ns"`
	// RSSFirst and RSSLast are the median RSS of the first and the last
	// fifth of the samples after Warm; Growth is (last-first)/first and
	// SlopeMiBPerMin the least-squares slope over the same samples.
	RSSFirst       int64   `json:"rss_first_bytes,omitzero"`
	RSSLast        int64   `json:"rss_last_bytes,omitzero"`
	Growth         float64 `json:"growth"`
	SlopeMiBPerMin float64 `json:"slope_mib_per_min"`
}

const soakCacheMax = 256 << 20

// soakScript: each connection alternates a playlist reload with a 1-2 MB
// segment; segment names advance every eight requests per thread, so new
// objects keep arriving (a live stream's), the cache fills to its bound and
// then evicts for the rest of the run.
const soakScript = `
local id = 0
local n = 0
setup = function(thread)
  id = id + 1
  thread:set("id", id)
end
request = function()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("GET", "/hot/index.m3u8")
  end
  local k = math.floor(n / 16)
  local size = 1048576 + (k % 5) * 262144
  return wrk.format("GET", "/obj/" .. size .. "/0/soak-" .. id .. "-" .. k .. ".m4s")
end
`

// RunSoak holds the soak load on edgecache (cache bounded at 256 MiB) for
// d, sampling its RSS, goroutines and heap every sample.
func RunSoak(ctx context.Context, opt Options, d, sample time.Duration) (*SoakReport, error) {
	o, err := startOrigin()
	if err != nil {
		return nil, err
	}
	defer o.close()
	dir, err := os.MkdirTemp("", "edgecache-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	e := &env{bin: opt.Bin, dir: dir, originAddr: o.ln.Addr().String()}
	s, err := e.startEdgecacheConf(ctx, soakConf())
	if err != nil {
		return nil, err
	}
	defer s.stop()
	script := filepath.Join(dir, "soak.lua")
	if err := os.WriteFile(script, []byte(soakScript), 0o644); err != nil {
		return nil, err
	}
	rep := &SoakReport{Started: time.Now(), Machine: machine(), Duration: d, CacheMax: soakCacheMax,
		Load: "wrk -t2 -c32: each connection alternates a playlist reload and a 1-2 MB segment, a new segment name every 8 segments per thread (bench/compare/soak.go)"}
	done := make(chan error, 1)
	var out string
	go func() {
		var err error
		out, err = wrk(ctx, s, &rep.Wrk, d, "-t2", "-c32", "-s", script, s.URL)
		done <- err
	}()
	start := time.Now()
	tick := time.NewTicker(sample)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return nil, err
			}
			rep.GB = readGB(out)
			rep.analyse()
			return rep, nil
		case <-tick.C:
			m := scrape(s.metricsURL, "go_goroutines", "go_memstats_heap_inuse_bytes", "edgecache_cache_bytes")
			rep.Samples = append(rep.Samples, SoakSample{At: time.Since(start), RSS: rssBytes(s.cmd.Process.Pid),
				Goroutines: m["go_goroutines"], HeapInuse: m["go_memstats_heap_inuse_bytes"], CacheBytes: m["edgecache_cache_bytes"]})
			opt.Log.Info("soak", "at", time.Since(start).Round(time.Second), "rss_mib", rssBytes(s.cmd.Process.Pid)>>20, "cache_mib", int64(m["edgecache_cache_bytes"])>>20)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// analyse finds the warm-up's end and the growth after it.
func (r *SoakReport) analyse() {
	i := slices.IndexFunc(r.Samples, func(s SoakSample) bool { return s.CacheBytes >= 0.9*float64(r.CacheMax) })
	if i < 0 || len(r.Samples)-i < 5 {
		return
	}
	after := r.Samples[i:]
	r.Warm = after[0].At
	fifth := max(len(after)/5, 1)
	medRSS := func(ss []SoakSample) int64 {
		xs := make([]float64, len(ss))
		for j, s := range ss {
			xs[j] = float64(s.RSS)
		}
		return int64(med(xs))
	}
	r.RSSFirst, r.RSSLast = medRSS(after[:fifth]), medRSS(after[len(after)-fifth:])
	r.Growth = float64(r.RSSLast-r.RSSFirst) / float64(r.RSSFirst)
	var sx, sy, sxx, sxy float64
	for _, s := range after {
		x, y := s.At.Minutes(), float64(s.RSS)/(1<<20)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(after))
	if den := n*sxx - sx*sx; den != 0 {
		r.SlopeMiBPerMin = (n*sxy - sx*sy) / den
	}
}

// scrape reads the named unlabelled gauges from a Prometheus text page
// (labelled series of one name are summed).
func scrape(url string, names ...string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, n); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
				f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
				if len(f) > 0 {
					if v, err := strconv.ParseFloat(f[0], 64); err == nil && !math.IsNaN(v) {
						out[n] += v
					}
				}
			}
		}
	}
	return out
}

// Markdown renders the soak report.
func (r *SoakReport) Markdown(command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# edgecache soak: RSS at constant load\n\n- Date: %s UTC\n- Machine: %s\n- Command: `%s`\n- Load: %s, for %v; cache bounded at %d MiB\n- Sent: %.1f GB, %.0f req/s, %d non-2xx, %d socket errors\n\n",
		r.Started.UTC().Format("2006-01-02 15:04"), r.Machine, command, r.Load, r.Duration, r.CacheMax>>20, r.GB, r.Wrk.ReqPerSec, r.Wrk.NonSuccessful, r.Wrk.Errors)
	if r.RSSFirst == 0 {
		b.WriteString("The cache never reached 90% of its bound, or too few samples followed: no verdict.\n")
	} else {
		fmt.Fprintf(&b, "| after warm-up (cache at 90%% of its bound at %v) | value |\n|---|---:|\n", r.Warm.Round(time.Second))
		fmt.Fprintf(&b, "| RSS, median of the first fifth | %.1f MiB |\n| RSS, median of the last fifth | %.1f MiB |\n", mib(r.RSSFirst), mib(r.RSSLast))
		fmt.Fprintf(&b, "| growth | %+.2f%% |\n| least-squares slope | %+.2f MiB/min |\n\n", 100*r.Growth, r.SlopeMiBPerMin)
	}
	b.WriteString("| at | RSS MiB | cache MiB | heap in use MiB | goroutines |\n|---:|---:|---:|---:|---:|\n")
	for _, s := range r.Samples {
		fmt.Fprintf(&b, "| %v | %.1f | %.1f | %.1f | %.0f |\n", s.At.Round(time.Second), mib(s.RSS), s.CacheBytes/(1<<20), s.HeapInuse/(1<<20), s.Goroutines)
	}
	return b.String()
}

// soakConf is the comparison's edge config with a 256 MiB cache and
// without the packager routes: the soak requests only the test origin.
func soakConf() string {
	var keep []string
	for _, line := range strings.Split(edgeConf, "\n") {
		if !strings.Contains(line, "{{PACKAGER}}") {
			keep = append(keep, line)
		}
	}
	return strings.Replace(strings.Join(keep, "\n"), "max_bytes: 1GiB", "max_bytes: 256MiB", 1)
}
