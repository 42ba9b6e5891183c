package compare

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/edgecache/edgecache/bench/herd"
	"github.com/edgecache/edgecache/bench/viewer"
)

// WrkResult is one wrk run.
type WrkResult struct {
	Requests      int64              `json:"requests"`
	ReqPerSec     float64            `json:"req_per_sec"`
	LatencyMs     map[string]float64 `json:"latency_ms"` // 50%, 75%, 90%, 99%
	Errors        int64              `json:"errors"`
	ServerCPU     float64            `json:"server_cpu_seconds"`
	ReqPerCPUSec  float64            `json:"req_per_server_cpu_second"`
	TransferMBps  float64            `json:"transfer_mb_per_sec"`
	NonSuccessful int64              `json:"non_2xx"`
}

var (
	wrkReqs    = regexp.MustCompile(`(\d+) requests in`)
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkLat     = regexp.MustCompile(`(?m)^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkErrs    = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkXferSec = regexp.MustCompile(`Transfer/sec:\s+([\d.]+)(KB|MB|GB)`)
)

// runWrk runs `wrk -t2 -c64 --latency` for d against url, measuring the
// server's CPU over the same span.
func runWrk(ctx context.Context, s *server, url string, d time.Duration) (WrkResult, error) {
	return runWrkHeaders(ctx, s, url, d)
}

// runWrkHeaders is runWrk with request header fields ("Name: value").
func runWrkHeaders(ctx context.Context, s *server, url string, d time.Duration, headers ...string) (WrkResult, error) {
	var r WrkResult
	cpu0 := cpuSeconds(s.cmd.Process.Pid)
	args := []string{"-t2", "-c64", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	r.ServerCPU = cpuSeconds(s.cmd.Process.Pid) - cpu0
	if err != nil {
		return r, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	txt := string(out)
	if m := wrkReqs.FindStringSubmatch(txt); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkRPS.FindStringSubmatch(txt); m != nil {
		r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	}
	r.LatencyMs = map[string]float64{}
	for _, m := range wrkLat.FindAllStringSubmatch(txt, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		r.LatencyMs[m[1]+"%"] = v
	}
	if m := wrkNon2xx.FindStringSubmatch(txt); m != nil {
		r.NonSuccessful, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := wrkErrs.FindStringSubmatch(txt); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.ParseInt(v, 10, 64)
			r.Errors += n
		}
	}
	if m := wrkXferSec.FindStringSubmatch(txt); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		switch m[2] {
		case "KB":
			v /= 1024
		case "GB":
			v *= 1024
		}
		r.TransferMBps = v
	}
	if r.ServerCPU > 0 {
		r.ReqPerCPUSec = float64(r.Requests) / r.ServerCPU
	}
	return r, nil
}

func warm(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil
}

// HerdResult is one herd against one edge.
type HerdResult struct {
	OriginFetches float64 `json:"origin_fetches"`
	TTFBp50Ms     float64 `json:"ttfb_p50_ms"`
	TTFBp99Ms     float64 `json:"ttfb_p99_ms"`
	DoneP50Ms     float64 `json:"completion_p50_ms"`
	DoneP99Ms     float64 `json:"completion_p99_ms"`
	DoneMaxMs     float64 `json:"completion_max_ms"`
	Identical     bool    `json:"identical"`
	Errors        int     `json:"errors"`
}

func runHerd(ctx context.Context, o *testOrigin, s *server, clients, size, rate int, name string) (HerdResult, error) {
	path := fmt.Sprintf("/obj/%d/%d/%s", size, rate, name)
	rep, err := herd.Run(ctx, herd.Config{
		URL:            s.URL + path,
		Clients:        clients,
		Timeout:        60 * time.Second,
		OriginCountURL: o.URL + "/count?path=" + path,
	}, nil)
	if err != nil {
		return HerdResult{}, err
	}
	r := HerdResult{
		TTFBp50Ms: rep.TTFBMs.P50, TTFBp99Ms: rep.TTFBMs.P99,
		DoneP50Ms: rep.CompletionMs.P50, DoneP99Ms: rep.CompletionMs.P99, DoneMaxMs: rep.CompletionMs.Max,
		Identical: rep.Identical,
	}
	if rep.OriginFetches != nil {
		r.OriginFetches = rep.OriginFetches.Delta
	}
	for _, n := range rep.Errors {
		r.Errors += n
	}
	return r, nil
}

// ExpiryResult: origin fetches while 64 connections hammer an object
// across one expiry.
type ExpiryResult struct {
	OriginFetches int     `json:"origin_fetches"`
	ReqPerSec     float64 `json:"req_per_sec"`
}

func runExpiry(ctx context.Context, o *testOrigin, s *server, name string) (ExpiryResult, error) {
	path := "/expire/" + name
	if err := warm(s.URL + path); err != nil {
		return ExpiryResult{}, err
	}
	before := o.count(path)
	// The object lives 2 s: hammer from 0.5 s to 3.5 s of its life, one
	// expiry in the middle.
	time.Sleep(500 * time.Millisecond)
	w, err := runWrk(ctx, s, s.URL+path, 3*time.Second)
	if err != nil {
		return ExpiryResult{}, err
	}
	return ExpiryResult{OriginFetches: o.count(path) - before, ReqPerSec: w.ReqPerSec}, nil
}

// RSSResult is the memory an edge grew by after caching N distinct
// objects.
type RSSResult struct {
	CachedMiB      float64 `json:"cached_mib"`
	RSSBeforeMiB   float64 `json:"rss_before_mib"`
	RSSAfterMiB    float64 `json:"rss_after_mib"`
	CacheFilesMiB  float64 `json:"cache_files_mib"` // nginx's tmpfs files: RAM outside the RSS
	GrowthMiB      float64 `json:"growth_mib"`      // RSS growth plus cache files
	GrowthPerCache float64 `json:"growth_per_cached_byte"`
}

func runRSS(ctx context.Context, s *server, objects, size int) (RSSResult, error) {
	pid := s.cmd.Process.Pid
	r := RSSResult{RSSBeforeMiB: mib(rssBytes(pid)), CachedMiB: float64(objects*size) / (1 << 20)}
	files0 := dirBytes(s.cacheDir)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var ferr error
	var mu sync.Mutex
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := warm(fmt.Sprintf("%s/obj/%d/0/rss-%s-%d", s.URL, size, s.Name, i)); err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < objects && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	time.Sleep(time.Second)
	r.RSSAfterMiB = mib(rssBytes(pid))
	r.CacheFilesMiB = mib(dirBytes(s.cacheDir) - files0)
	r.GrowthMiB = r.RSSAfterMiB - r.RSSBeforeMiB + r.CacheFilesMiB
	r.GrowthPerCache = r.GrowthMiB / r.CachedMiB
	return r, ferr
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// ViewerStep is one rung of the live-viewer ladder.
type ViewerStep struct {
	Viewers       int     `json:"viewers"`
	Played        int     `json:"played"`
	NeverStarted  int     `json:"never_started"`
	Rebuffers     int64   `json:"rebuffer_events"`
	RebufferRatio float64 `json:"rebuffer_ratio"`
	Errors        int64   `json:"http_errors"`
}

// runViewers steps the number of simulated live viewers up until one rung
// rebuffers (or fails to start); the largest clean rung is the result.
func runViewers(ctx context.Context, s *server, ladder []int, d time.Duration) ([]ViewerStep, int, error) {
	var steps []ViewerStep
	best := 0
	for _, n := range ladder {
		rep, err := viewer.Run(ctx, viewer.Config{
			URL: s.URL + "/hls/demo.m3u8", Viewers: n, Duration: d, Ramp: d / 4, Rendition: "random", Seed: 1,
		}, nil)
		if err != nil {
			return steps, best, err
		}
		st := ViewerStep{Viewers: n, Played: rep.Viewers.Played, NeverStarted: rep.Viewers.NeverStarted,
			Rebuffers: rep.Rebuffer.Events, RebufferRatio: rep.Rebuffer.OverallRatio}
		for _, byKind := range rep.Errors.ByClass {
			for _, c := range byKind {
				st.Errors += c
			}
		}
		steps = append(steps, st)
		if st.Rebuffers > 0 || st.NeverStarted > 0 || st.Errors > 0 {
			break
		}
		best = n
	}
	return steps, best, nil
}
