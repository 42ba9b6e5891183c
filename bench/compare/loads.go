package compare

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgecache/edgecache/bench/herd"
	"github.com/edgecache/edgecache/bench/viewer"
)

// WrkResult is one wrk run.
type WrkResult struct {
	Requests     int64              `json:"requests"`
	ReqPerSec    float64            `json:"req_per_sec"`
	LatencyMs    map[string]float64 `json:"latency_ms"` // 50%, 75%, 90%, 99%
	Errors       int64              `json:"errors"`
	ServerCPU    float64            `json:"server_cpu_seconds"`
	ReqPerCPUSec float64            `json:"req_per_server_cpu_second"`
	// MachineCPU is the whole machine's busy CPU over the run (every
	// process, interrupts and softirqs), less wrk's own: on loopback the
	// kernel charges part of a server's TCP sending to softirq time or to
	// the receiving client's process, depending on how the server writes,
	// so the server's own CPU alone can flatter or penalise it.
	MachineCPU          float64 `json:"machine_cpu_seconds_less_wrk,omitempty"`
	ClientCPU           float64 `json:"wrk_cpu_seconds,omitempty"`
	ReqPerMachineCPUSec float64 `json:"req_per_machine_cpu_second_less_wrk,omitempty"`
	TransferMBps        float64 `json:"transfer_mb_per_sec"`
	NonSuccessful       int64   `json:"non_2xx"`
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
	var args []string
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	_, err := wrk(ctx, s, &r, d, append(args, url)...)
	return r, err
}

// wrk runs `wrk -t2 -c64 --latency` for d with args, measuring the
// server's CPU over the same span, fills r and returns wrk's output.
func wrk(ctx context.Context, s *server, r *WrkResult, d time.Duration, args ...string) (string, error) {
	cpu0, busy0 := cpuSeconds(s.cmd.Process.Pid), machineBusySeconds()
	args = append([]string{"-t2", "-c64", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}, args...)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	out, err := cmd.CombinedOutput()
	r.ServerCPU = cpuSeconds(s.cmd.Process.Pid) - cpu0
	if busy0 > 0 && cmd.ProcessState != nil {
		r.ClientCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		r.MachineCPU = machineBusySeconds() - busy0 - r.ClientCPU
	}
	if err != nil {
		return string(out), fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
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
		r.TransferMBps = wrkBytes(m[1], m[2]) / (1 << 20)
	}
	if r.ServerCPU > 0 {
		r.ReqPerCPUSec = float64(r.Requests) / r.ServerCPU
	}
	if r.MachineCPU > 0 {
		r.ReqPerMachineCPUSec = float64(r.Requests) / r.MachineCPU
	}
	return txt, nil
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
		// The herd shares the two cores with the edge: SHA-256 of 800
		// MB/s would take half of one or more from it (bench/README.md).
		Sum: herd.SumCRC32C,
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
	// SimulatorCPUS is the simulator's own CPU over the rung, and
	// SimulatorCores that as cores busy: it shares the two cores with the
	// edge, so a rung where it takes most of one says more about it than
	// about the edge.
	SimulatorCPUS  float64 `json:"simulator_cpu_s"`
	SimulatorCores float64 `json:"simulator_cores"`
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
			Rebuffers: rep.Rebuffer.Events, RebufferRatio: rep.Rebuffer.OverallRatio, SimulatorCPUS: rep.SimulatorCPUS}
		if rep.ElapsedS > 0 {
			st.SimulatorCores = rep.SimulatorCPUS / rep.ElapsedS
		}
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

// withinFileLimit keeps the rungs this process can open a connection per
// viewer for (with room for the rest), and the first that does not fit is
// dropped with the others: viewer.Run would refuse it.
func withinFileLimit(ladder []int) []int {
	lim := openFileLimit()
	if lim == 0 {
		return ladder
	}
	var out []int
	for _, n := range ladder {
		if uint64(n)+256 > lim {
			break
		}
		out = append(out, n)
	}
	return out
}

// MixResult is one edge's turn of the realistic viewer mix.
type MixResult struct {
	WrkResult
	// GB is what the edge sent (wrk's count of bytes read, 10^9 bytes).
	GB float64 `json:"gb"`
	// CPUPerGB is the edge's CPU-seconds per GB sent: lower is better.
	CPUPerGB float64 `json:"server_cpu_s_per_gb"`
}

// mixObjects are the segments of the realistic mix: 1 to 5 MB, as a
// 4-20 Mb/s rendition in 2 s segments would have (most bytes a video edge
// sends are segments this size), twenty distinct ones so no single object
// sits in a CPU cache. Served by the test origin's /obj/ (max-age=60).
func mixObjects() []string {
	sizes := []int{1 << 20, 1536 << 10, 2 << 20, 2560 << 10, 3 << 20, 4 << 20, 5 << 20}
	var paths []string
	for i := range 20 {
		paths = append(paths, fmt.Sprintf("/obj/%d/0/mix-%d.m4s", sizes[i%len(sizes)], i))
	}
	return paths
}

// mixScript is wrk's Lua for the mix: each connection is a viewer that
// alternates a playlist reload with the next segment, one of each per
// target duration, so requests are half playlists and the bytes nearly
// all segments.
func mixScript(segs []string) string {
	var b strings.Builder
	b.WriteString("local segs = {")
	for i, p := range segs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p)
	}
	b.WriteString(`}
local n = 0
request = function()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("GET", "/hot/index.m3u8")
  end
  return wrk.format("GET", segs[((n / 2) % #segs) + 1])
end
`)
	return b.String()
}

// readGB is what wrk's output says it read, in GB (1e9 bytes); 0 when
// the line is missing.
func readGB(out string) float64 {
	m := wrkRead.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	return wrkBytes(m[1], m[2]) / 1e9
}

// wrkBytes is a size as wrk prints it (a number and B, KB, MB, GB or TB,
// in powers of 1024) in bytes.
func wrkBytes(num, unit string) float64 {
	v, _ := strconv.ParseFloat(num, 64)
	return v * map[string]float64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]
}

var wrkRead = regexp.MustCompile(`requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB|TB) read`)

// runMix runs the realistic mix against s with wrk and the script in dir,
// warming every object first so the turn measures hits.
func runMix(ctx context.Context, s *server, dir string, d time.Duration) (MixResult, error) {
	segs := mixObjects()
	for _, p := range append(segs, "/hot/index.m3u8") {
		if err := warm(s.URL + p); err != nil {
			return MixResult{}, fmt.Errorf("mix warm %s: %w", p, err)
		}
	}
	script := filepath.Join(dir, "mix.lua")
	if err := os.WriteFile(script, []byte(mixScript(segs)), 0o644); err != nil {
		return MixResult{}, err
	}
	var r MixResult
	out, err := wrk(ctx, s, &r.WrkResult, d, "-s", script, s.URL)
	if err != nil {
		return r, err
	}
	r.GB = readGB(out)
	if r.GB > 0 {
		r.CPUPerGB = r.ServerCPU / r.GB
	}
	return r, nil
}
