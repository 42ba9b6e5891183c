package compare

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Options shape a run.
type Options struct {
	// Quick is the under-three-minutes mode: one round, short loads, no
	// 20 MB herd, one step of viewers.
	Quick bool
	// Bin holds the edgecache and packager binaries.
	Bin string
	// Self is this program's executable, started with -serve-floor for the
	// plain net/http baseline of the hot loads; "" leaves the baseline out.
	Self string
	Log  *slog.Logger
}

// Report is everything one run measured, by edge name.
type Report struct {
	Started  time.Time         `json:"started"`
	Duration string            `json:"duration"`
	Machine  string            `json:"machine"`
	Quick    bool              `json:"quick"`
	Command  string            `json:"command"`
	Servers  []string          `json:"servers"`
	Versions map[string]string `json:"versions"`

	HotSegment  map[string][]WrkResult `json:"hot_segment"`
	HotPlaylist map[string][]WrkResult `json:"hot_playlist"`
	// Floor is the plain net/http baseline of the hot loads, by load
	// ("segment", "playlist"), run in the same rounds as the edges.
	Floor    map[string][]WrkResult  `json:"floor,omitempty"`
	Herd4MB  map[string][]HerdResult `json:"herd_4mb"`
	Herd20MB map[string][]HerdResult `json:"herd_20mb"`
	// HerdFloor is the no-cache floor of the herd: the same 200 fresh
	// clients fetching a 4 KiB object straight from the origin, once per
	// round. What an edge adds to the first byte is measured over it.
	HerdFloor []HerdResult `json:"herd_floor,omitempty"`
	// HerdStreamFloor is the herd with no cache at all: the same 200
	// clients streaming the 4 MB object straight from the origin at the
	// same rate, once per round. The small-object floor has no body to
	// stream; this one shows what 200 streams cost this machine's first
	// bytes when nothing sits in between.
	HerdStreamFloor []HerdResult              `json:"herd_stream_floor,omitempty"`
	Expiry          map[string][]ExpiryResult `json:"expiry"`
	RSS             map[string]RSSResult      `json:"rss"`
	Viewers         map[string][]ViewerStep   `json:"viewers"`
	MaxViewers      map[string]int            `json:"max_viewers"`
	// Mix: the realistic viewer mix (a playlist per segment of 1-5 MB),
	// for CPU-seconds per GB sent.
	Mix map[string][]MixResult `json:"mix,omitempty"`
	// LLHLS: LL-HLS viewers against each edge in front of the packager.
	LLHLS map[string]LLResult `json:"llhls"`
	// LLLadder: more LL-HLS viewers, rung by rung, until one rung
	// rebuffers, fails to start or errs (the first rung is LLHLS).
	LLLadder map[string][]LLResult `json:"llhls_ladder,omitempty"`
	Errors   []string              `json:"errors,omitempty"`
}

// Run starts everything, runs the loads interleaved, stops everything it
// started, and returns the report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	rep := &Report{
		Started: start.UTC(), Quick: opt.Quick, Machine: machine(), Versions: versions(),
		HotSegment: map[string][]WrkResult{}, HotPlaylist: map[string][]WrkResult{}, Floor: map[string][]WrkResult{},
		Herd4MB: map[string][]HerdResult{}, Herd20MB: map[string][]HerdResult{},
		Expiry: map[string][]ExpiryResult{}, RSS: map[string]RSSResult{},
		Viewers: map[string][]ViewerStep{}, MaxViewers: map[string]int{}, LLHLS: map[string]LLResult{},
		Mix: map[string][]MixResult{}, LLLadder: map[string][]LLResult{},
	}
	dir, err := os.MkdirTemp("", "edgecache-compare")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)

	o, err := startOrigin()
	if err != nil {
		return nil, err
	}
	defer o.close()

	// The packager with its demo stream: the live origin for the viewers.
	pport, err := freePort()
	if err != nil {
		return nil, err
	}
	rport, err := freePort()
	if err != nil {
		return nil, err
	}
	pk := exec.CommandContext(ctx, filepath.Join(opt.Bin, "packager"), "-rtmp-listen", fmt.Sprintf("127.0.0.1:%d", rport),
		"-http-listen", fmt.Sprintf("127.0.0.1:%d", pport), "-demo")
	pk.Stdout, pk.Stderr = logFile(dir, "packager"), nil
	if err := pk.Start(); err != nil {
		return nil, fmt.Errorf("packager: %w", err)
	}
	pkSrv := &server{Name: "packager", cmd: pk}
	defer pkSrv.stop()
	// Every edge reaches the packager through one counting proxy: what
	// reaches the origin is counted outside every edge.
	cp, err := startCountingProxy(fmt.Sprintf("http://127.0.0.1:%d", pport))
	if err != nil {
		return nil, err
	}
	defer cp.close()
	e := &env{dir: dir, originAddr: strings.TrimPrefix(o.URL, "http://"), packagerURL: cp.URL, bin: opt.Bin}
	if err := waitOK(e.packagerURL+"/hls/demo.m3u8", 30*time.Second); err != nil {
		return nil, fmt.Errorf("packager demo stream: %w", err)
	}

	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, start := range []func() (*server, error){
		func() (*server, error) { return e.startNginx(ctx, "nginx", false) },
		func() (*server, error) { return e.startNginx(ctx, "nginx-lock", true) },
		func() (*server, error) { return e.startVarnish(ctx) },
		func() (*server, error) { return e.startEdgecache(ctx) },
	} {
		s, err := start()
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
		rep.Servers = append(rep.Servers, s.Name)
	}
	var floor *server
	if opt.Self != "" {
		if floor, err = e.startFloor(ctx, opt.Self); err != nil {
			return nil, err
		}
		defer floor.stop()
	}
	log.Info("all edges up", "servers", rep.Servers)

	// Every edge held 5000 viewers in the 2026-11-24 full run, the old
	// simulator's cap: the ladder goes on until an edge breaks (or the
	// open-file limit: one connection per viewer). Each rung is 1.25x the
	// one below, the goal's ratio, so one rung more than another edge is
	// the goal met and the resolution is the same all the way up.
	rounds, wrkFor, ladder, viewFor, rssObjects := 3, 10*time.Second, []int{3200, 4000, 5000, 6400, 8000, 10000, 12500, 16000}, 20*time.Second, 100
	mixFor := 8 * time.Second
	// The herd is over in a second or two, and its p99 is the
	// second-slowest of 200 clients on two shared cores: one round can be
	// twice another, and so can the floor's. It gets more rounds than the
	// ten-second loads: nine, as the median of five moved by 10 ms
	// between two full runs of one binary and harness (bench/README.md).
	herdRounds := 9
	if opt.Quick {
		rounds, wrkFor, ladder, viewFor, rssObjects = 1, 3*time.Second, []int{50}, 10*time.Second, 30
		mixFor, herdRounds = 3*time.Second, 1
	}
	ladder = withinFileLimit(ladder)
	note := func(what string, err error) {
		if err != nil {
			log.Warn(what, "err", err)
			rep.Errors = append(rep.Errors, what+": "+err.Error())
		}
	}
	// hot runs the two hot loads against s.
	hot := func(s *server) (seg, pl WrkResult) {
		warm(s.URL + "/hot/seg.m4s")
		warm(s.URL + "/hot/index.m3u8")
		seg, err := runWrk(ctx, s, s.URL+"/hot/seg.m4s", wrkFor)
		note(s.Name+" hot segment", err)
		pl, err = runWrk(ctx, s, s.URL+"/hot/index.m3u8", wrkFor)
		note(s.Name+" hot playlist", err)
		return seg, pl
	}
	// direct is the origin itself, for the herd's two no-cache floors.
	direct := &server{Name: "origin", URL: o.URL}
	// Interleaved: each round visits every edge, in a rotated order, so
	// machine noise falls on all of them alike.
	for r := 0; r < rounds && ctx.Err() == nil; r++ {
		order := rotate(servers, r)
		for _, s := range order {
			seg, pl := hot(s)
			rep.HotSegment[s.Name] = append(rep.HotSegment[s.Name], seg)
			rep.HotPlaylist[s.Name] = append(rep.HotPlaylist[s.Name], pl)
			log.Info("hot loads", "round", r, "server", s.Name)
		}
		if floor != nil {
			seg, pl := hot(floor)
			rep.Floor["segment"] = append(rep.Floor["segment"], seg)
			rep.Floor["playlist"] = append(rep.Floor["playlist"], pl)
		}
	}
	for r := 0; r < herdRounds && ctx.Err() == nil; r++ {
		fl, err := runHerd(ctx, o, direct, 200, 4<<10, 0, fmt.Sprintf("herdfloor-%d", r))
		note("herd floor", err)
		rep.HerdFloor = append(rep.HerdFloor, fl)
		sf, err := runHerd(ctx, o, direct, 200, 4<<20, 4<<20, fmt.Sprintf("herdstreamfloor-%d", r))
		note("herd streaming floor", err)
		rep.HerdStreamFloor = append(rep.HerdStreamFloor, sf)
		for _, s := range rotate(servers, r) {
			h, err := runHerd(ctx, o, s, 200, 4<<20, 4<<20, fmt.Sprintf("herd4-%s-%d", s.Name, r))
			note(s.Name+" herd 4MB", err)
			rep.Herd4MB[s.Name] = append(rep.Herd4MB[s.Name], h)
			x, err := runExpiry(ctx, o, s, fmt.Sprintf("%s-%d", s.Name, r))
			note(s.Name+" expiry", err)
			rep.Expiry[s.Name] = append(rep.Expiry[s.Name], x)
			log.Info("herd and expiry", "round", r, "server", s.Name, "origin_fetches", h.OriginFetches, "expiry_fetches", x.OriginFetches)
		}
	}
	if !opt.Quick {
		for _, s := range servers {
			h, err := runHerd(ctx, o, s, 200, 20<<20, 2<<20, "herd20-"+s.Name)
			note(s.Name+" herd 20MB", err)
			rep.Herd20MB[s.Name] = append(rep.Herd20MB[s.Name], h)
			log.Info("herd 20MB", "server", s.Name, "origin_fetches", h.OriginFetches, "done_p99_ms", h.DoneP99Ms)
		}
	}
	for _, s := range servers {
		m, err := runRSS(ctx, s, rssObjects, 2<<20)
		note(s.Name+" rss", err)
		rep.RSS[s.Name] = m
	}
	// The mix caches 50 MB of segments of its own: after the memory
	// measurement, whose baseline it would otherwise move (the garbage of
	// its fills is heap the next objects reuse).
	for r := 0; r < rounds && ctx.Err() == nil; r++ {
		for _, s := range rotate(servers, r) {
			m, err := runMix(ctx, s, dir, mixFor)
			note(s.Name+" mix", err)
			rep.Mix[s.Name] = append(rep.Mix[s.Name], m)
			log.Info("mix", "round", r, "server", s.Name, "cpu_s_per_gb", m.CPUPerGB)
		}
	}
	for _, s := range servers {
		steps, best, err := runViewers(ctx, s, ladder, viewFor)
		note(s.Name+" viewers", err)
		rep.Viewers[s.Name] = steps
		rep.MaxViewers[s.Name] = best
		log.Info("viewer ladder", "server", s.Name, "max_clean", best)
	}
	llViewers, llFor := 200, 30*time.Second
	if opt.Quick {
		llViewers, llFor = 50, 8*time.Second
	}
	// After the first rung (the one the origin-load table shows), the
	// LL-HLS ladder climbs in shorter turns until a rung is not clean.
	llLadder, llStepFor := withinFileLimit([]int{1000, 2000, 3000, 6000}), 15*time.Second
	if opt.Quick {
		llLadder = nil
	}
	for _, s := range servers {
		x, err := runLLHLS(ctx, s, cp, llViewers, llFor, 333*time.Millisecond)
		note(s.Name+" llhls", err)
		rep.LLHLS[s.Name] = x
		rep.LLLadder[s.Name] = append(rep.LLLadder[s.Name], x)
		log.Info("llhls", "server", s.Name, "origin_blocking", x.OriginBlocking, "per_part", x.PerPart, "errors", x.Errors)
		for _, n := range llLadder {
			if !x.clean() || ctx.Err() != nil {
				break
			}
			x, err = runLLHLS(ctx, s, cp, n, llStepFor, 333*time.Millisecond)
			note(fmt.Sprintf("%s llhls %d", s.Name, n), err)
			if err != nil {
				break
			}
			rep.LLLadder[s.Name] = append(rep.LLLadder[s.Name], x)
			log.Info("llhls ladder", "server", s.Name, "viewers", n, "clean", x.clean(), "hold_p99_ms", x.HoldP99Ms)
		}
	}
	rep.Duration = time.Since(start).Round(time.Second).String()
	return rep, nil
}

func rotate(s []*server, n int) []*server {
	n %= len(s)
	return append(append([]*server{}, s[n:]...), s[:n]...)
}

func waitOK(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v", url, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func machine() string {
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
		if len(f) >= 2 {
			mem = f[1] + " kB"
		}
	}
	return fmt.Sprintf("%d cores (%s), %s RAM, %s/%s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH)
}

func versions() map[string]string {
	v := map[string]string{}
	for name, args := range map[string][]string{"nginx": {"nginx", "-v"}, "varnish": {"varnishd", "-V"}, "wrk": {"wrk", "-v"}} {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		line := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		v[name] = line
	}
	v["go"] = runtime.Version()
	return v
}
