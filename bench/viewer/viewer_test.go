package viewer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/bench/loopback"
)

// testLogger writes to t.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	return runCtx(t.Context(), t, cfg)
}

// runCtx is run ended by ctx: a test ends a run when what it shows has
// happened, not after a time the machine may need more of.
func runCtx(ctx context.Context, t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(ctx, cfg, testLogger(t))
	return checkReport(t, rep, err)
}

// startRun runs in the background until the test calls end (or is over:
// the run is then ended and waited for before the test's cleanup goes on);
// end returns its checked report.
func startRun(t *testing.T, cfg Config) (end func() *Report) {
	type result struct {
		rep *Report
		err error
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		rep, err := Run(ctx, cfg, testLogger(t))
		done <- result{rep, err}
	}()
	t.Cleanup(func() { cancel(); <-finished })
	return func() *Report {
		t.Helper()
		cancel()
		r := <-done
		return checkReport(t, r.rep, r.err)
	}
}

func checkReport(t *testing.T, rep *Report, err error) *Report {
	t.Helper()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not marshal: %v", err)
	}
	var tab strings.Builder
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", tab.String())
	return rep
}

// A healthy origin at low load: everyone plays, nobody rebuffers, and
// the numbers are plausible.
func TestRunHealthy(t *testing.T) {
	tests := []struct {
		name string
		path string
		dash string
		spd  time.Duration
	}{
		{"hls multivariant", "/hls/master.m3u8", "", 0},
		{"hls media playlist", "/hls/low/index.m3u8", "", 0},
		{"dash timeline", "/dash/live.mpd", "timeline", 0},
		{"dash timeline with presentation delay", "/dash/live.mpd", "timeline", 1200 * time.Millisecond},
		{"dash duration template", "/dash/live.mpd", "duration", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newLiveOrigin(400*time.Millisecond, 8)
			o.dash, o.spd = tc.dash, tc.spd
			srv := o.start(t, 0)
			rep := run(t, Config{URL: srv.URL + tc.path, Viewers: 3, Duration: 2500 * time.Millisecond, Seed: 7})
			if rep.Viewers.Played != 3 || rep.Viewers.NeverStarted != 0 {
				t.Errorf("viewers %+v, want all 3 playing", rep.Viewers)
			}
			if rep.Rebuffer.Events != 0 || rep.Rebuffer.OverallRatio != 0 {
				t.Errorf("rebuffer %+v against a healthy origin", rep.Rebuffer)
			}
			// How fast is the machine's business (bench reports say);
			// that every viewer started and measured it is the test's.
			if s := rep.StartupMs; s.Count != 3 || s.P50 <= 0 {
				t.Errorf("startup %+v, want 3 samples above 0", s)
			}
			if e := rep.Errors; e.Status4xx+e.Status5xx+e.Network != 0 {
				t.Errorf("errors %+v", rep.Errors)
			}
			// 2.5 s of 400 ms segments, joining 3 segments back: about
			// 9 each.
			if rep.Segments.Downloaded < 21 || rep.Segments.Skipped != 0 {
				t.Errorf("segments %+v", rep.Segments)
			}
			for _, c := range []string{"playlist", "init", "segment"} {
				if rep.TTFBMs[c].Count == 0 {
					t.Errorf("no %s TTFB samples", c)
				}
			}
			if rep.TTFBMs["init"].Count != 3 {
				t.Errorf("init fetched %d times, want once per viewer", rep.TTFBMs["init"].Count)
			}
			if r := rep.DownloadRatio; r.Count == 0 || r.P50 <= 0 || r.P99 > 1 {
				t.Errorf("download ratio %+v", r)
			}
			// Joining 3 segments (1.2 s) back, or at the presentation
			// delay: latency is a little above that.
			if l := rep.LiveLatencyMs; l.Count == 0 || l.P50 < 700 {
				t.Errorf("live latency %+v", l)
			}
			// @duration templates list nothing, so there is no lag to see.
			if s := rep.Staleness.SequenceLag; tc.dash != "duration" && (s.Count == 0 || s.P90 > 1) {
				t.Errorf("sequence lag %+v against the viewers' own newest", s)
			}
		})
	}
}

// Segments served at half real-time speed: the viewers must rebuffer,
// and say so.
func TestRunSlowOriginRebuffers(t *testing.T) {
	tests := []struct {
		name, path, dash string
	}{
		{"hls", "/hls/master.m3u8", ""},
		{"dash", "/dash/live.mpd", "timeline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newLiveOrigin(300*time.Millisecond, 8)
			o.dash = tc.dash
			o.segDelay = 600 * time.Millisecond
			srv := o.start(t, 0)
			rep := run(t, Config{URL: srv.URL + tc.path, Viewers: 2, Duration: 3 * time.Second})
			if rep.Rebuffer.Events < 2 || rep.Rebuffer.ViewersAffected != 2 {
				t.Errorf("rebuffer %+v, want every viewer stalling", rep.Rebuffer)
			}
			// Half speed: about half the time stalled once it settles.
			if r := rep.Rebuffer.OverallRatio; r < 0.2 || r > 0.9 {
				t.Errorf("overall rebuffer ratio %.2f, want about 0.5", r)
			}
			if r := rep.DownloadRatio; r.P50 < 1.5 {
				t.Errorf("download ratio %+v, want about 2", r)
			}
		})
	}
}

// One viewer, watched request by request: where it starts, that it
// fetches in order without gaps, the init segment once, and the reload
// cadence of RFC 8216bis 6.3.4.
func TestHLSFollower(t *testing.T) {
	t.Parallel()
	const seg = 300 * time.Millisecond
	o := newLiveOrigin(seg, 10)
	srv := o.start(t, 0)
	rep := run(t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 1, Duration: 2500 * time.Millisecond, Rendition: "highest"})
	if rep.Renditions["/hls/high/index.m3u8"] != 1 {
		t.Errorf("renditions %v, want high", rep.Renditions)
	}
	var (
		playlists, inits int
		segs             []int64
		newestAtFirst    int64 = -1
	)
	for _, r := range o.requests() {
		switch {
		case strings.HasSuffix(r.path, "index.m3u8"):
			if !strings.HasPrefix(r.path, "/hls/high/") {
				t.Errorf("fetched %s, not the chosen rendition", r.path)
			}
			if playlists == 0 {
				newestAtFirst = r.newest
			}
			playlists++
		case strings.HasSuffix(r.path, "init.mp4"):
			inits++
		case strings.Contains(r.path, "/seg"):
			n, _ := strconv.ParseInt(strings.TrimSuffix(r.path[strings.LastIndex(r.path, "/seg")+4:], ".m4s"), 10, 64)
			segs = append(segs, n)
		}
	}
	if inits != 1 {
		t.Errorf("init fetched %d times, want 1", inits)
	}
	if len(segs) == 0 {
		t.Fatal("no segments fetched")
	}
	// RFC 8216bis 6.3.3: the last segment starting at least three target
	// durations from the end. All segments last one target duration.
	if segs[0] != newestAtFirst-2 {
		t.Errorf("started at segment %d, newest was %d: want %d", segs[0], newestAtFirst, newestAtFirst-2)
	}
	for i := 1; i < len(segs); i++ {
		if segs[i] != segs[i-1]+1 {
			t.Fatalf("segments out of order or with gaps: %v", segs)
		}
	}
	// A reload every target duration when it changed, half of one when
	// not: at most 2.5 s / 150 ms loads. A busy machine may make fewer,
	// never more; a viewer that stopped reloading would make one or two.
	if playlists < 3 || playlists > 18 {
		t.Errorf("%d playlist loads in 2.5 s with a 300 ms target duration", playlists)
	}
}

func TestDASHFollowerStart(t *testing.T) {
	tests := []struct {
		name     string
		dash     string
		spd      time.Duration
		wantBack int64 // segments behind the newest at the first MPD load
	}{
		{"three segments back", "timeline", 0, 2},
		{"suggested presentation delay", "timeline", 1900 * time.Millisecond, 4},
		{"delay beyond the window clamps to the oldest", "timeline", time.Minute, 9},
		{"duration template", "duration", 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := newLiveOrigin(400*time.Millisecond, 10)
			o.dash, o.spd = tc.dash, tc.spd
			srv := o.start(t, 0)
			rep := run(t, Config{URL: srv.URL + "/dash/live.mpd", Viewers: 1, Duration: 1200 * time.Millisecond, Rendition: "lowest"})
			if rep.Renditions["low"] != 1 {
				t.Errorf("renditions %v, want low", rep.Renditions)
			}
			var first int64 = -1
			newestAtFirst := int64(-1)
			var segs []int64
			for _, r := range o.requests() {
				if r.path == "/dash/live.mpd" && newestAtFirst < 0 {
					newestAtFirst = r.newest
				}
				if strings.HasPrefix(r.path, "/dash/") && strings.Contains(r.path, "/seg") {
					if !strings.HasPrefix(r.path, "/dash/low/") {
						t.Errorf("fetched %s, not the chosen Representation", r.path)
					}
					n, _ := strconv.ParseInt(strings.TrimSuffix(r.path[strings.LastIndex(r.path, "/seg")+4:], ".m4s"), 10, 64)
					segs = append(segs, n-1)
				}
			}
			if len(segs) == 0 {
				t.Fatal("no segments")
			}
			first = segs[0]
			if first != newestAtFirst-tc.wantBack {
				t.Errorf("started at %d with newest %d: %d back, want %d", first, newestAtFirst, newestAtFirst-first, tc.wantBack)
			}
			for i := 1; i < len(segs); i++ {
				if segs[i] != segs[i-1]+1 {
					t.Fatalf("segments out of order or with gaps: %v", segs)
				}
			}
		})
	}
}

// An edge serving playlists two segments stale: the Age header and the
// lag behind the origin show it.
func TestStalenessAgainstOrigin(t *testing.T) {
	tests := []struct{ name, path string }{
		{"hls", "/hls/master.m3u8"},
		{"dash", "/dash/live.mpd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const seg = 300 * time.Millisecond
			o := newLiveOrigin(seg, 10)
			origin := o.start(t, 0)
			staleEdge := o.start(t, 2*seg+seg/2)
			rep := run(t, Config{URL: staleEdge.URL + tc.path, OriginURL: origin.URL + tc.path, Viewers: 2, Duration: 2 * time.Second})
			if rep.Staleness.LagReference != "origin" {
				t.Errorf("lag reference %q", rep.Staleness.LagReference)
			}
			if s := rep.Staleness.SequenceLag; s.Count == 0 || s.P50 < 2 || s.P50 > 3 {
				t.Errorf("sequence lag %+v, want about 2", s)
			}
			if tc.name == "hls" {
				if s := rep.Staleness.AgeS; s.Count == 0 || s.P50 != 0 {
					// lag/time.Second rounds down to 0 for 750 ms
					t.Errorf("age %+v", s)
				}
			}
		})
	}
}

func TestRenditionChoice(t *testing.T) {
	o := newLiveOrigin(300*time.Millisecond, 6)
	srv := o.start(t, 0)
	tests := []struct {
		rendition string
		want      string
	}{
		{"lowest", "/hls/low/index.m3u8"},
		{"highest", "/hls/high/index.m3u8"},
		{"0", "/hls/mid/index.m3u8"},
		{"2", "/hls/high/index.m3u8"},
	}
	for _, tc := range tests {
		t.Run(tc.rendition, func(t *testing.T) {
			t.Parallel()
			rep := run(t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 2, Duration: 400 * time.Millisecond, Rendition: tc.rendition})
			if rep.Renditions[tc.want] != 2 || len(rep.Renditions) != 1 {
				t.Errorf("renditions %v, want both on %s", rep.Renditions, tc.want)
			}
		})
	}
	t.Run("random spreads", func(t *testing.T) {
		t.Parallel()
		rep := run(t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 30, Duration: 300 * time.Millisecond, Seed: 3})
		if len(rep.Renditions) < 2 {
			t.Errorf("30 random viewers all on %v", rep.Renditions)
		}
	})
}

func TestSetupErrors(t *testing.T) {
	o := newLiveOrigin(300*time.Millisecond, 6)
	srv := o.start(t, 0)
	good := Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 1, Duration: time.Second}
	with := func(f func(*Config)) Config { c := good; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		wantIs  error
		wantMsg string
	}{
		{"no url", with(func(c *Config) { c.URL = "" }), ErrConfig, "no stream URL"},
		{"no viewers", with(func(c *Config) { c.Viewers = 0 }), ErrConfig, "viewers 0"},
		{"over the default cap", with(func(c *Config) { c.Viewers = DefaultMaxViewers + 1 }), ErrConfig, "cap of 20000"},
		{"over the open file limit", with(func(c *Config) { c.Viewers, c.MaxViewers = 1<<30, 1<<30 }), ErrConfig, "open files"},
		{"over a lower cap", with(func(c *Config) { c.Viewers = 11; c.MaxViewers = 10 }), ErrConfig, "cap of 10"},
		{"unbounded", with(func(c *Config) { c.Duration = 0 }), ErrConfig, "bound"},
		{"flash and ramp", with(func(c *Config) { c.Flash = true; c.Ramp = time.Second / 2 }), ErrConfig, "contradict"},
		{"ramp longer than run", with(func(c *Config) { c.Ramp = 2 * time.Second }), ErrConfig, "ramp"},
		{"bad rendition", with(func(c *Config) { c.Rendition = "median" }), ErrRendition, "median"},
		{"rendition out of range", with(func(c *Config) { c.Rendition = "3" }), ErrRendition, "has 3"},
		{"not loopback", with(func(c *Config) { c.URL = "http://192.0.2.10/live.m3u8" }), loopback.ErrNotLoopback, "192.0.2.10 is not a loopback"},
		{
			"name resolving off the machine",
			with(func(c *Config) {
				c.URL = "http://cdn.example.test/live.m3u8"
				c.Resolver = fakeResolver{"cdn.example.test": "198.51.100.4"}
			}),
			loopback.ErrNotLoopback, "resolves to 198.51.100.4",
		},
		{"origin not loopback", with(func(c *Config) { c.OriginURL = "http://192.0.2.11/live.m3u8" }), loopback.ErrNotLoopback, "192.0.2.11"},
		{"not a stream", with(func(c *Config) { c.URL = srv.URL + "/hls/low/init.mp4" }), ErrUnsupported, "not an HLS playlist"},
		{"404", with(func(c *Config) { c.URL = srv.URL + "/nothing.m3u8" }), ErrStatus, "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(t.Context(), tc.cfg, testLogger(t))
			if err == nil {
				t.Fatalf("Run succeeded: %+v", rep)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("err %v, want %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err %q does not say %q", err, tc.wantMsg)
			}
		})
	}
	t.Run("allow-host lets a named host through", func(t *testing.T) {
		// localhost resolves to loopback anyway; what matters is that the
		// fake resolver, which says otherwise, is not consulted.
		c := good
		c.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/hls/master.m3u8"
		c.AllowHost = "localhost"
		c.Resolver = fakeResolver{"localhost": "198.51.100.4"}
		c.Duration = 300 * time.Millisecond
		if _, err := Run(t.Context(), c, testLogger(t)); err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

type fakeResolver map[string]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ip, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []net.IPAddr{{IP: net.ParseIP(ip)}}, nil
}

// viewerLiveness bounds a wait for an event in these tests: far beyond
// what a run needs on a busy machine, so only a broken run reaches it.
const viewerLiveness = 30 * time.Second

// The load shape: a ramp spreads joins out, a flash crowd joins at once,
// progress is reported, and nothing is left running. Each run is ended by
// its caller once what it shows has happened, so no check depends on how
// fast the machine is: a ramp's joins are at least its schedule apart
// (load only delays them), and a flash crowd's requests are all in while
// the first ones are held.
func TestLoadShape(t *testing.T) {
	o := newLiveOrigin(300*time.Millisecond, 6)
	type hold struct {
		in  chan struct{} // closed when the 11th is in
		end func()        // then called
	}
	var (
		masters atomic.Int32 // master playlist requests, the probe's first
		gate    atomic.Pointer[hold]
	)
	o.onMaster = func(r *http.Request) {
		n := masters.Add(1)
		g := gate.Load()
		if g == nil || n == 1 {
			return
		}
		if n == 11 {
			close(g.in)
			g.end()
		}
		select { // the flash crowd's requests wait for each other
		case <-g.in:
		case <-r.Context().Done():
		}
	}
	srv := o.start(t, 0)
	defer checkGoroutines(t)()

	t.Run("ramp", func(t *testing.T) {
		const ramp, n = 800 * time.Millisecond, 10
		before := len(o.requests())
		masters.Store(0)
		ctx, cancel := context.WithTimeout(t.Context(), viewerLiveness)
		defer cancel()
		var reports atomic.Int32
		cfg := Config{URL: srv.URL + "/hls/master.m3u8", Viewers: n, Duration: time.Hour, Ramp: ramp,
			ProgressInterval: 200 * time.Millisecond,
			Progress: func(p Progress) {
				if p.Joined < 1 || p.Joined > n || p.Active > p.Joined {
					t.Errorf("progress %+v", p)
				}
				// Ended when every viewer has fetched the master and
				// progress has been reported more than once.
				if reports.Add(1) >= 3 && masters.Load() == n+1 {
					cancel()
				}
			}}
		rep := runCtx(ctx, t, cfg)
		if ctx.Err() == context.DeadlineExceeded {
			t.Fatalf("%d master requests and %d progress reports in %v", masters.Load(), reports.Load(), viewerLiveness)
		}
		joins := masterJoins(o.requests()[before:])
		if len(joins) != n+1 { // the probe fetches it once too
			t.Fatalf("%d master playlist requests, want %d", len(joins), n+1)
		}
		// The probe comes before the ramp's start, and viewer i joins no
		// earlier than ramp*i/n after it.
		if spread, least := joins[n].Sub(joins[0]), ramp*(n-1)/n; spread < least {
			t.Errorf("joins spread over %v after the probe, want at least %v", spread, least)
		}
		if rep.Viewers.Joined != n {
			t.Errorf("joined %d", rep.Viewers.Joined)
		}
	})

	t.Run("flash", func(t *testing.T) {
		const n = 10
		before := len(o.requests())
		masters.Store(0)
		ctx, cancel := context.WithTimeout(t.Context(), viewerLiveness)
		defer cancel()
		g := &hold{in: make(chan struct{}), end: cancel}
		gate.Store(g)
		defer gate.Store(nil)
		rep := runCtx(ctx, t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: n, Duration: time.Hour, Flash: true})
		select {
		case <-g.in:
		default:
			t.Fatalf("%d of the flash crowd's %d master requests came in while the first ones were held", masters.Load()-1, n)
		}
		if joins := masterJoins(o.requests()[before:]); len(joins) != n+1 {
			t.Fatalf("%d master playlist requests, want %d", len(joins), n+1)
		}
		if rep.Viewers.Joined != n {
			t.Errorf("joined %d", rep.Viewers.Joined)
		}
	})
}

// masterJoins is when the origin saw each master playlist request.
func masterJoins(reqs []originReq) []time.Time {
	var joins []time.Time
	for _, r := range reqs {
		if r.path == "/hls/master.m3u8" {
			joins = append(joins, r.at)
		}
	}
	return joins
}

// A run ends at its Duration: it returns (within the liveness bound,
// which a run that ignored its Duration would reach), not interrupted,
// and no sooner than the Duration.
func TestRunEndsAtDuration(t *testing.T) {
	o := newLiveOrigin(300*time.Millisecond, 6)
	srv := o.start(t, 0)
	defer checkGoroutines(t)()
	const d = 600 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), viewerLiveness)
	defer cancel()
	rep := runCtx(ctx, t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 2, Duration: d})
	if rep.Interrupted {
		t.Fatalf("a run of %v was still going %v after it began", d, viewerLiveness)
	}
	if rep.ElapsedS < d.Seconds() {
		t.Errorf("a run of %v ended after %.3f s", d, rep.ElapsedS)
	}
	if rep.Viewers.Joined != 2 {
		t.Errorf("joined %d", rep.Viewers.Joined)
	}
}

// Ending the caller's context ends the run early with a partial report.
func TestRunInterrupted(t *testing.T) {
	o := newLiveOrigin(300*time.Millisecond, 6)
	srv := o.start(t, 0)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	rep := runCtx(ctx, t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 2, Duration: time.Minute})
	// It ends with the context, long before the minute it was given.
	if time.Since(start) > 30*time.Second || !rep.Interrupted || rep.Viewers.Joined != 2 {
		t.Errorf("interrupted %v after %v, joined %d", rep.Interrupted, time.Since(start), rep.Viewers.Joined)
	}
}

func TestLLHLS(t *testing.T) {
	t.Parallel()
	const seg = 400 * time.Millisecond
	o := newLiveOrigin(seg, 6)
	o.ll = true
	srv := o.start(t, 0)
	rep := run(t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 1, Duration: 2500 * time.Millisecond, LLHLS: true, Rendition: "lowest"})
	if !rep.LLHLS || rep.Viewers.Played != 1 {
		t.Fatalf("llhls %v, viewers %+v", rep.LLHLS, rep.Viewers)
	}
	if rep.Rebuffer.Events != 0 {
		t.Errorf("rebuffer %+v", rep.Rebuffer)
	}
	// Blocking reloads are held until the next part (a part target,
	// 100 ms), never up to the origin's 3-target-duration bound.
	if h := rep.HoldMs["playlist"]; h.Count < 8 || h.Max >= float64(3*seg/time.Millisecond) {
		t.Errorf("playlist hold %+v", h)
	}
	if h := rep.HoldMs["part"]; h.Count < 8 {
		t.Errorf("preload hint hold %+v", h)
	}
	// PART-HOLD-BACK is 300 ms; classic HLS would join 1.2 s back.
	if l := rep.LiveLatencyMs; l.Count == 0 || l.P50 > 700 {
		t.Errorf("live latency %+v, want low latency", l)
	}
	var parts []partPos
	for _, r := range o.requests() {
		if strings.Contains(r.path, "/seg") {
			t.Errorf("fetched a whole segment, %s, in LL-HLS mode", r.path)
		}
		var m uint64
		var p int
		if _, err := fmt.Sscanf(r.path, "/hls/low/part%d.%d.m4s", &m, &p); err == nil {
			parts = append(parts, partPos{m, p})
		}
	}
	if len(parts) < 15 {
		t.Fatalf("only %d parts fetched in 2.5 s of 100 ms parts", len(parts))
	}
	for i := 1; i < len(parts); i++ {
		prev, cur := parts[i-1], parts[i]
		if cur != (partPos{prev.msn, prev.idx + 1}) && cur != (partPos{prev.msn + 1, 0}) {
			t.Fatalf("parts out of order or with gaps at %d: %v", i, parts)
		}
		if cur == (partPos{prev.msn + 1, 0}) && prev.idx != partsPerSeg-1 {
			t.Fatalf("left segment %d after part %d: %v", prev.msn, prev.idx, parts)
		}
	}
	if parts[0].idx != 0 {
		t.Errorf("started on part %v, not an INDEPENDENT one", parts[0])
	}
}

// -llhls against a playlist that is not low-latency plays it the classic
// way.
func TestLLHLSFallback(t *testing.T) {
	t.Parallel()
	o := newLiveOrigin(300*time.Millisecond, 6)
	srv := o.start(t, 0)
	rep := run(t, Config{URL: srv.URL + "/hls/master.m3u8", Viewers: 1, Duration: 1500 * time.Millisecond, LLHLS: true})
	if rep.Viewers.Played != 1 || rep.Rebuffer.Events != 0 || len(rep.HoldMs) != 0 || rep.Segments.Downloaded < 5 {
		t.Errorf("viewers %+v rebuffer %+v hold %v segments %+v", rep.Viewers, rep.Rebuffer, rep.HoldMs, rep.Segments)
	}
}
