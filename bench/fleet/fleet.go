// Package fleet runs edgecache as a fleet on one machine: two packagers
// publishing the demo stream, a shield tier and an edge tier, each
// process on its own loopback address, with simulated viewers spread over
// the edges. During the run it kills the primary packager, kills an edge
// and rolls the shields one at a time, then reports what the viewers saw
// and what the packagers were asked.
package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgecache/edgecache/bench/viewer"
)

// Config sizes and times a fleet run.
type Config struct {
	// EdgeBin and PackagerBin are the binaries (bin/edgecache,
	// bin/packager). Required.
	EdgeBin, PackagerBin string
	// Edges and Shields count the tiers. Zero means 3 and 2; Shields 0
	// after defaults is not possible: use NoShield.
	Edges, Shields int
	// NoShield points the edges straight at the packagers.
	NoShield bool
	// Viewers is the total, split 40% HLS, 30% LL-HLS, 30% DASH. Zero
	// means 300.
	Viewers int
	// Duration is the viewers' run. Zero means 4m. The events happen at
	// fixed fractions of it.
	Duration time.Duration
	// Net is the first three octets of the loopback addresses, "127.0.0".
	// Base is the last octet of the first process; the others follow.
	// Zero means 160.
	Net  string
	Base int
	// MultiOrigin uses `origins:` in the generated configs (shields: both
	// packagers, primary and backup; edges: every shield by rendezvous
	// hash). It needs an edgecache that knows the key; Run checks with
	// -check-config and says so when it does not.
	MultiOrigin bool
	// WorkDir holds configs and process logs. Required.
	WorkDir string
	Log     *slog.Logger
}

func (c *Config) defaults() error {
	if c.EdgeBin == "" || c.PackagerBin == "" || c.WorkDir == "" {
		return errors.New("fleet: EdgeBin, PackagerBin and WorkDir are required")
	}
	if c.Edges == 0 {
		c.Edges = 3
	}
	if c.Shields == 0 {
		c.Shields = 2
	}
	if c.NoShield {
		c.Shields = 0
	}
	if c.Viewers == 0 {
		c.Viewers = 300
	}
	if c.Duration == 0 {
		c.Duration = 4 * time.Minute
	}
	if c.Net == "" {
		c.Net = "127.0.0"
	}
	if c.Base == 0 {
		c.Base = 160
	}
	if c.Edges < 2 || c.Base < 2 || c.Base+2+c.Shields+c.Edges > 254 {
		return fmt.Errorf("fleet: %d edges from 127.x.x.%d do not fit (need at least 2 edges)", c.Edges, c.Base)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Event is something the harness did to the fleet, and when.
type Event struct {
	AtS  float64 `json:"at_s"`
	What string  `json:"what"`
	Err  string  `json:"err,omitempty"`
}

// Report is a fleet run's outcome.
type Report struct {
	Started     time.Time `json:"started"`
	DurationS   float64   `json:"duration_s"`
	Edges       int       `json:"edges"`
	Shields     int       `json:"shields"`
	Packagers   int       `json:"packagers"`
	MultiOrigin bool      `json:"multi_origin"`
	Events      []Event   `json:"events"`

	// Origin: what the packagers were asked, all of them together.
	Origin OriginReport `json:"origin"`
	// Viewers: one report per protocol (hls, llhls, dash).
	Viewers map[string]*viewer.Report `json:"viewers"`
	// Summary across the three.
	RebufferRatio   float64 `json:"rebuffer_ratio"` // stalled over played+stalled, all viewers
	MaxPlaylistAgeS float64 `json:"max_playlist_age_s"`
	Backwards       int64   `json:"backwards"`
	FailedRequests  int64   `json:"failed_requests"`
	// LostOnKilledEdge: of FailedRequests, those in flight on an edge
	// when it was killed (the goal excludes them).
	LostOnKilledEdge int64  `json:"lost_on_killed_edge"`
	Failovers        int64  `json:"failovers"`
	IdenticalEdges   bool   `json:"identical_edge_playlists"`
	IdenticalNote    string `json:"identical_note"`
	PackagerSameURIs bool   `json:"packagers_same_uris"`
}

// Missed lists the goals the run missed (empty when all were
// met): playlist loads never go backwards; no failed viewer request
// outside those in flight on the killed edge; origin requests per segment
// one with a shield tier, one per edge without, within 2% (a segment a
// shield was filling when it was rolled is fetched again by the next).
func (r *Report) Missed() []string {
	var m []string
	if r.Backwards > 0 {
		m = append(m, fmt.Sprintf("%d playlist loads went backwards (goal 0)", r.Backwards))
	}
	if n := r.FailedRequests - r.LostOnKilledEdge; n > 0 {
		m = append(m, fmt.Sprintf("%d failed viewer requests outside the killed edge (goal 0)", n))
	}
	goal := 1.0
	if r.Shields == 0 {
		goal = float64(r.Edges)
	}
	if r.Origin.PerSegment > goal*1.02 {
		m = append(m, fmt.Sprintf("%.2f origin requests per segment (goal %.0f)", r.Origin.PerSegment, goal))
	}
	return m
}

// OriginReport is origin load: requests per object.
type OriginReport struct {
	originCounts
	PerSegment          float64 `json:"per_segment"`
	PerPart             float64 `json:"per_part"`
	PerPlaylistVersion  float64 `json:"per_playlist_version"`
	PlaylistReqsPerSecS float64 `json:"playlist_reqs_per_s"`
}

type topology struct {
	packagers []*proc
	fronts    []*front
	shields   []*proc
	edges     []*proc
	edgeAddrs []string // host:port viewers use
}

func (c *Config) addr(i int) string { return fmt.Sprintf("%s.%d", c.Net, c.Base+i) }

// Run starts the fleet, runs the scenario and the viewers, tears every
// process down and reports.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	log := cfg.Log.With("component", "fleet")
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if cfg.MultiOrigin {
		if err := checkMultiOrigin(cfg); err != nil {
			return nil, err
		}
	}
	t := &topology{}
	defer t.teardown()
	if err := t.build(ctx, cfg, log); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now(), Edges: cfg.Edges, Shields: cfg.Shields, Packagers: 2, MultiOrigin: cfg.MultiOrigin}
	rep.PackagerSameURIs = samePackagerURIs(ctx, t)

	// The scenario runs beside the viewers.
	start := time.Now()
	var evMu sync.Mutex
	event := func(what string, err error) {
		evMu.Lock()
		defer evMu.Unlock()
		e := Event{AtS: time.Since(start).Seconds(), What: what}
		if err != nil {
			e.Err = err.Error()
		}
		log.Info("event", "at", e.AtS, "what", what, "err", err)
		rep.Events = append(rep.Events, e)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { t.scenario(runCtx, cfg, start, event, rep) })

	reports := map[string]*viewer.Report{}
	var repMu sync.Mutex
	var vwg sync.WaitGroup
	split := []struct {
		name, path string
		ll         bool
		share      int // percent
	}{{"hls", "/hls/demo.m3u8", false, 40}, {"llhls", "/hls/demo.m3u8", true, 30}, {"dash", "/dash/demo.mpd", false, 30}}
	for i, s := range split {
		n := max(cfg.Viewers*s.share/100, 1)
		vc := viewer.Config{
			URL: "http://" + t.edgeAddrs[i%len(t.edgeAddrs)] + s.path, Viewers: n, MaxViewers: n,
			Duration: cfg.Duration, Ramp: cfg.Duration / 12, LLHLS: s.ll, Rendition: "lowest",
			Hosts: t.edgeAddrs, Seed: uint64(i + 1),
		}
		vwg.Go(func() {
			r, err := viewer.Run(runCtx, vc, cfg.Log.With("viewers", s.name))
			if err != nil {
				event("viewers "+s.name+" could not start", err)
				return
			}
			repMu.Lock()
			reports[s.name] = r
			repMu.Unlock()
		})
	}
	vwg.Wait()
	cancel()
	wg.Wait()
	rep.DurationS = time.Since(start).Seconds()
	rep.Viewers = reports
	rep.summarise(sumCounts(t.fronts))
	return rep, nil
}

func (r *Report) summarise(c originCounts) {
	r.Origin.originCounts = c
	if c.Segments > 0 {
		r.Origin.PerSegment = float64(c.SegmentReqs) / float64(c.Segments)
	}
	if c.Parts > 0 {
		r.Origin.PerPart = float64(c.PartReqs) / float64(c.Parts)
	}
	if c.PlaylistVersions > 0 {
		r.Origin.PerPlaylistVersion = float64(c.PlaylistReqs) / float64(c.PlaylistVersions)
	}
	if r.DurationS > 0 {
		r.Origin.PlaylistReqsPerSecS = float64(c.PlaylistReqs) / r.DurationS
	}
	var played, stalled float64
	for _, v := range r.Viewers {
		// OverallRatio = stalled / (played + stalled); weight by viewers.
		n := float64(v.Viewers.Played)
		stalled += v.Rebuffer.OverallRatio * n
		played += n
		r.MaxPlaylistAgeS = max(r.MaxPlaylistAgeS, v.Staleness.AgeS.Max)
		r.Backwards += v.Staleness.Backwards
		r.FailedRequests += v.Errors.Status4xx + v.Errors.Status5xx + v.Errors.Network
		r.LostOnKilledEdge += v.LostOnDeadHost
		r.Failovers += v.Failovers
	}
	if played > 0 {
		r.RebufferRatio = stalled / played
	}
}

// checkMultiOrigin asks the edge binary whether it accepts `origins:`.
func checkMultiOrigin(cfg Config) error {
	p := filepath.Join(cfg.WorkDir, "check-origins.yaml")
	y := "routes:\n  - prefix: /hls/\n    origins:\n      - url: http://127.0.0.1:1/hls/\n      - url: http://127.0.0.2:1/hls/\n        role: backup\n"
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		return err
	}
	out, err := exec.Command(cfg.EdgeBin, "-check-config", p).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fleet: this edgecache does not accept `origins:` (run without -multi-origin): %s", bytes.TrimSpace(out))
	}
	return nil
}

func (t *topology) build(ctx context.Context, cfg Config, log *slog.Logger) error {
	logs := filepath.Join(cfg.WorkDir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	// Packagers 0 and 1: the packager listens on :9088, its counting
	// front on :8088 of the same address.
	for i := range 2 {
		a := cfg.addr(i)
		p := &proc{
			name: fmt.Sprintf("packager%d", i+1), bin: cfg.PackagerBin, logs: logs,
			args:  []string{"-demo", "-timeline", "locked", "-http-listen", a + ":9088", "-rtmp-listen", a + ":19350", "-shutdown-grace", "0s", "-shutdown-timeout", "2s"},
			ready: "http://" + a + ":9088/readyz",
		}
		if err := p.start(); err != nil {
			return err
		}
		t.packagers = append(t.packagers, p)
		f, err := newFront(a+":8088", "http://"+a+":9088")
		if err != nil {
			return fmt.Errorf("front for %s: %w", p.name, err)
		}
		t.fronts = append(t.fronts, f)
	}
	for _, p := range t.packagers {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.waitReady(rctx)
		cancel()
		if err != nil {
			return err
		}
	}
	// The demo needs a few segments before viewers can join.
	if err := waitStream(ctx, "http://"+cfg.addr(0)+":8088/hls/demo/video.m3u8", 3); err != nil {
		return err
	}
	packagerURLs := []string{"http://" + cfg.addr(0) + ":8088", "http://" + cfg.addr(1) + ":8088"}
	var shieldURLs []string
	for i := range cfg.Shields {
		a := cfg.addr(2 + i)
		name := fmt.Sprintf("shield%d", i+1)
		ups := []string{packagerURLs[0]}
		if cfg.MultiOrigin {
			ups = packagerURLs
		}
		p, err := t.edgeProc(cfg, logs, name, a, "failover", ups)
		if err != nil {
			return err
		}
		t.shields = append(t.shields, p)
		shieldURLs = append(shieldURLs, "http://"+a+":8081")
	}
	for i := range cfg.Edges {
		a := cfg.addr(2 + cfg.Shields + i)
		name := fmt.Sprintf("edge%d", i+1)
		var ups []string
		mode := "hash"
		switch {
		case cfg.NoShield:
			ups, mode = packagerURLs[:1], "failover"
			if cfg.MultiOrigin {
				ups = packagerURLs
			}
		case cfg.MultiOrigin:
			ups = shieldURLs
		default:
			// One origin per route: each edge is tied to one shield.
			ups = []string{shieldURLs[i%len(shieldURLs)]}
		}
		p, err := t.edgeProc(cfg, logs, name, a, mode, ups)
		if err != nil {
			return err
		}
		t.edges = append(t.edges, p)
		t.edgeAddrs = append(t.edgeAddrs, a+":8081")
	}
	for _, p := range append(append([]*proc{}, t.shields...), t.edges...) {
		if err := p.start(); err != nil {
			return err
		}
	}
	for _, p := range append(append([]*proc{}, t.shields...), t.edges...) {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.waitReady(rctx)
		cancel()
		if err != nil {
			return err
		}
	}
	log.Info("fleet up", "packagers", 2, "shields", len(t.shields), "edges", len(t.edges))
	return nil
}

// edgeProc writes an edgecache config for one tier member.
func (t *topology) edgeProc(cfg Config, logs, name, addr, mode string, ups []string) (*proc, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\nadmin_listen: %q\nserver_name: %s\nshutdown_grace: 1s\nshutdown_timeout: 5s\nlog_format: json\n", addr+":8081", addr+":9091", name)
	b.WriteString("cache:\n  max_bytes: 128MiB\norigin:\n  connect_timeout: 1s\n  first_byte_timeout: 5s\n  idle_timeout: 5s\n")
	if mode == "failover" && cfg.MultiOrigin && !cfg.NoShield {
		// A shield the edges reach by hash holds a share of the keys: if
		// it prefetched what every playlist lists, each shield would fetch
		// every segment. The edges' own prefetches reach the right shield.
		b.WriteString("prefetch: false\n")
	}
	b.WriteString("routes:\n")
	for _, prefix := range []string{"/hls/", "/dash/"} {
		fmt.Fprintf(&b, "  - prefix: %s\n", prefix)
		if len(ups) == 1 && !cfg.MultiOrigin {
			fmt.Fprintf(&b, "    origin: %s%s\n", ups[0], prefix)
			continue
		}
		fmt.Fprintf(&b, "    origins_mode: %s\n", mode)
		if mode == "failover" {
			// In front of the packagers: the freshest playlist of the two,
			// and their /readyz to see the primary come back.
			b.WriteString("    origins_freshest: true\n    origins_health:\n      backoff: 2s\n      check_path: /readyz\n      check_interval: 1s\n")
		} else {
			// In front of the shields: their /readyz is on the admin
			// port, and fails while one drains.
			b.WriteString("    origins_health:\n      backoff: 2s\n      check_path: /readyz\n      check_port: 9091\n      check_interval: 1s\n")
		}
		b.WriteString("    origins:\n")
		for i, u := range ups {
			role := "primary"
			if mode == "failover" && i > 0 {
				role = "backup"
			}
			fmt.Fprintf(&b, "      - url: %s%s\n        role: %s\n", u, prefix, role)
		}
	}
	path := filepath.Join(cfg.WorkDir, name+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return &proc{name: name, bin: cfg.EdgeBin, logs: logs, args: []string{"-config", path}, ready: "http://" + addr + ":9091/readyz"}, nil
}

// scenario does, at fixed fractions of the run: kill the primary
// packager (25%), compare two edges' playlists (35%), kill the last edge
// (45%), roll the shields one at a time (from 60%). It writes only the
// identical-playlist fields of rep, before Run reads them.
func (t *topology) scenario(ctx context.Context, cfg Config, start time.Time, event func(string, error), rep *Report) {
	at := func(frac float64) bool {
		d := time.Until(start.Add(time.Duration(frac * float64(cfg.Duration))))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	if !at(0.25) {
		return
	}
	t.fronts[0].close()
	event("kill packager1 (SIGKILL; its address now refuses connections)", t.packagers[0].stop(syscall.SIGKILL, 5*time.Second))
	if !at(0.35) {
		return
	}
	// While every edge is up: do two of them serve the same bytes?
	rep.IdenticalEdges, rep.IdenticalNote = identicalPlaylists(ctx, t)
	event("compare edge1's and edge2's playlists: "+rep.IdenticalNote, nil)
	if !at(0.45) {
		return
	}
	last := t.edges[len(t.edges)-1]
	event("kill "+last.name+" (SIGKILL)", last.stop(syscall.SIGKILL, 5*time.Second))
	if !at(0.60) {
		return
	}
	for _, s := range t.shields {
		err := s.stop(syscall.SIGTERM, 15*time.Second)
		event("roll "+s.name+": SIGTERM, drained, exited", err)
		if err := s.start(); err != nil {
			event("roll "+s.name+": restart", err)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = s.waitReady(rctx)
		cancel()
		event("roll "+s.name+": ready again", err)
		if ctx.Err() != nil {
			return
		}
	}
}

func (t *topology) teardown() {
	var wg sync.WaitGroup
	for _, p := range append(append(append([]*proc{}, t.edges...), t.shields...), t.packagers...) {
		wg.Go(func() { _ = p.stop(syscall.SIGTERM, 10*time.Second) })
	}
	wg.Wait()
	for _, f := range t.fronts {
		f.close()
	}
}

// waitStream waits until a media playlist lists at least n segments.
func waitStream(ctx context.Context, u string, n int) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for i := 0; i < 300; i++ {
		if resp, err := c.Get(u); err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && bytes.Count(b, []byte("#EXTINF")) >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("fleet: %s never listed %d segments", u, n)
}

// samePackagerURIs says whether the two packagers name the demo's
// segments alike (same first segment URI in the same media sequence),
// which a seamless failover between them would need.
func samePackagerURIs(ctx context.Context, t *topology) bool {
	var firsts []string
	for _, p := range t.packagers {
		u := strings.Replace(p.ready, "/readyz", "/hls/demo/video.m3u8", 1)
		body, err := get(ctx, u)
		if err != nil {
			return false
		}
		firsts = append(firsts, firstSegment(body))
	}
	return len(firsts) == 2 && firsts[0] != "" && firsts[0] == firsts[1]
}

func firstSegment(pl []byte) string {
	seq := ""
	for _, l := range strings.Split(string(pl), "\n") {
		if strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:") {
			seq = l
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			return seq + " " + l
		}
	}
	return ""
}

func get(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 8<<20))
}

// identicalPlaylists asks the first two edges for the same future LL-HLS
// playlist (a blocking reload for the next segment's first part, RFC
// 8216bis 6.2.5.2) at once and compares the bytes: a rewritten playlist
// must carry nothing replica-specific. It tries a few times, since the
// two edges may answer with different (later) versions.
func identicalPlaylists(ctx context.Context, t *topology) (bool, string) {
	if len(t.edgeAddrs) < 2 {
		return false, "fewer than two edges"
	}
	path := "/hls/demo/video.m3u8"
	tries, diff := 0, 0
	for ; tries < 5; tries++ {
		cur, err := get(ctx, "http://"+t.edgeAddrs[0]+path)
		if err != nil {
			return false, err.Error()
		}
		msn := lastMSN(cur) + 2
		q := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=0", path, msn)
		var bodies [2][]byte
		var errs [2]error
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() { bodies[i], errs[i] = get(ctx, "http://"+t.edgeAddrs[i]+q) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			return false, fmt.Sprintf("blocking reload: %v / %v", errs[0], errs[1])
		}
		if bytes.Equal(bodies[0], bodies[1]) {
			return true, fmt.Sprintf("byte-identical on attempt %d (%d differed: a later version on one edge)", tries+1, diff)
		}
		diff++
	}
	return false, fmt.Sprintf("differed in all %d attempts", tries)
}

func lastMSN(pl []byte) int {
	seq, n := 0, 0
	for _, l := range strings.Split(string(pl), "\n") {
		if v, ok := strings.CutPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"); ok {
			fmt.Sscan(v, &seq)
		}
		if strings.HasPrefix(l, "#EXTINF") {
			n++
		}
	}
	return seq + n - 1
}
