// Package viewer simulates live HLS and DASH viewers against an edge and
// measures what they would have seen: startup time, rebuffering, time to
// first byte, playlist staleness and live latency.
//
// Each viewer is one goroutine with its own HTTP connection pool, as a
// real player has. It picks a rendition, joins at the live edge the way
// players do, downloads every new segment in order, and keeps a playback
// buffer (Buffer) that drains in real time. Run starts them, bounds the
// run in time and size, and returns a Report.
package viewer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/edgecache/edgecache/bench/loopback"
	"github.com/edgecache/edgecache/manifest"
)

// DefaultMaxViewers is the cap on Config.Viewers when MaxViewers is 0.
const DefaultMaxViewers = 20000

// ErrConfig is wrapped by every Config validation error.
var ErrConfig = errors.New("invalid viewer config")

// ErrUnsupported is wrapped when the target is not a stream this package
// can play.
var ErrUnsupported = errors.New("unsupported stream")

// Config describes a run. Zero fields take the defaults their docs give.
type Config struct {
	// URL is the stream: an HLS multivariant or media playlist, or a DASH
	// MPD. Required. Its host must be loopback or AllowHost.
	URL string
	// Viewers is how many viewers join. Required, 1 to MaxViewers.
	Viewers int
	// MaxViewers caps Viewers; 0 means DefaultMaxViewers.
	MaxViewers int
	// Duration bounds the run, from the first join to the end. Required.
	Duration time.Duration
	// Ramp spreads the joins evenly over this long; 0 means everyone
	// joins at once.
	Ramp time.Duration
	// Flash has everyone join at once. It is the same as Ramp 0 and
	// contradicts a Ramp above 0.
	Flash bool
	// Rendition is "lowest", "highest", "random" or a 0-based index in
	// document order (EXT-X-STREAM-INF entries; video Representations of
	// the last Period). "" means random.
	Rendition string
	// StartBuffer is how many segments (parts in LL-HLS) must be
	// downloaded before playback starts; 0 means 1.
	StartBuffer int
	// LLHLS follows LL-HLS playlists with blocking reloads and parts. A
	// playlist that offers neither is followed the classic way.
	LLHLS bool
	// OriginURL is the same stream fetched straight from the origin
	// (same path layout), polled to learn the newest sequence number each
	// rendition has. "" means use the newest any viewer has seen.
	OriginURL string
	// AllowHost names one non-loopback host that may be targeted. ""
	// means loopback only (127.0.0.0/8, ::1).
	AllowHost string
	// Resolver resolves host names for the loopback check; nil means
	// net.DefaultResolver.
	Resolver loopback.Resolver
	// Seed seeds the random rendition choice; 0 means from the clock.
	Seed uint64
	// RequestTimeout bounds each request; 0 means 10s. Blocking LL-HLS
	// requests get three part targets more.
	RequestTimeout time.Duration
	// Progress, when set, is called every ProgressInterval while the run
	// lasts, from a goroutine Run owns. It must not block for long.
	Progress func(Progress)
	// ProgressInterval is how often Progress is called; 0 means 1s.
	ProgressInterval time.Duration
	// Hosts, when set, are host:port pairs serving the same paths as URL
	// (replicas behind a load balancer). Viewer i starts on Hosts[i mod
	// len] and moves to the next host when a connection to its own cannot
	// be made; Report.Failovers counts the moves. Each must be loopback or
	// AllowHost. Empty means URL's host only.
	Hosts []string
}

// Progress is a snapshot of a run in flight.
type Progress struct {
	Elapsed   time.Duration
	Joined    int64
	Active    int64
	ReqPerSec float64 // over the last interval
	Rebuffers int64
	P99TTFB   time.Duration // every object class, so far
}

func (c Config) withDefaults() Config {
	if c.MaxViewers == 0 {
		c.MaxViewers = DefaultMaxViewers
	}
	if c.StartBuffer == 0 {
		c.StartBuffer = 1
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = time.Second
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.URL == "":
		return fmt.Errorf("no stream URL: %w", ErrConfig)
	case c.MaxViewers < 0:
		return fmt.Errorf("max viewers %d: %w", c.MaxViewers, ErrConfig)
	case c.Viewers < 1:
		return fmt.Errorf("viewers %d: want at least 1: %w", c.Viewers, ErrConfig)
	case c.Viewers > c.MaxViewers:
		return fmt.Errorf("viewers %d is over the cap of %d (raise -max-viewers to allow it): %w", c.Viewers, c.MaxViewers, ErrConfig)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: every run needs a bound: %w", c.Duration, ErrConfig)
	case c.Ramp < 0:
		return fmt.Errorf("ramp %v: %w", c.Ramp, ErrConfig)
	case c.Flash && c.Ramp > 0:
		return fmt.Errorf("flash and a ramp of %v contradict each other: %w", c.Ramp, ErrConfig)
	case c.Ramp >= c.Duration:
		return fmt.Errorf("ramp %v is not shorter than the duration %v: %w", c.Ramp, c.Duration, ErrConfig)
	case c.StartBuffer < 0:
		return fmt.Errorf("start buffer %d: %w", c.StartBuffer, ErrConfig)
	case c.RequestTimeout < 0 || c.ProgressInterval < 0:
		return fmt.Errorf("negative timeout or interval: %w", ErrConfig)
	}
	if _, err := parseRendition(c.Rendition); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// streamKind is what the target turned out to be.
type streamKind uint8

const (
	kindHLS streamKind = iota
	kindDASH
)

func (k streamKind) String() string {
	if k == kindDASH {
		return "dash"
	}
	return "hls"
}

// runState is what every viewer of one run shares. It is read-only once
// the viewers start, apart from rec and track, which lock themselves.
type runState struct {
	cfg    Config
	target *url.URL
	kind   streamKind
	policy renditionPolicy
	guard  loopback.Guard
	rec    *recorder
	track  *tracker
	log    *slog.Logger
	hlsP   *parseCache[*manifest.HLSState]
	dashP  *parseCache[*dashDoc]
	bufs   *sync.Pool // body buffers every viewer reads into (discardBufs)
	gzips  *sync.Pool // gzip decoders (*gunzipper) every viewer shares
	// unzipped are the playlists viewers loaded gzipped, decoded once.
	unzipped *parseCache[[]byte]
}

// parseHLS parses a playlist, once for all viewers that load the same
// bytes.
func (rs *runState) parseHLS(body []byte) (*manifest.HLSState, error) {
	return rs.hlsP.get("", body, manifest.ParseHLS)
}

// parseMPD parses an MPD fetched from u, once for all viewers that load
// the same bytes from the same URL.
func (rs *runState) parseMPD(body []byte, u *url.URL) (*dashDoc, error) {
	return rs.dashP.get(u.String(), body, func(b []byte) (*dashDoc, error) { return parseMPD(b, u) })
}

// Run simulates cfg.Viewers viewers for cfg.Duration and reports what
// they saw. It returns an error only when the run cannot start: a bad
// config, a refused or unreachable target, a stream it cannot play.
// What the viewers measure, rebuffering and HTTP errors included, is in
// the Report. When ctx ends early the partial report is returned with
// Interrupted set.
func Run(ctx context.Context, cfg Config, log *slog.Logger) (*Report, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "viewers")
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// One connection per viewer, and a few for the rest: past the limit,
	// viewers would fail to dial and the run would blame the edge.
	if lim := openFileLimit(); lim > 0 && uint64(cfg.Viewers)+64 > lim {
		return nil, fmt.Errorf("viewers %d need about %d open files and the limit is %d (ulimit -n): %w", cfg.Viewers, cfg.Viewers+64, lim, ErrConfig)
	}
	policy, _ := parseRendition(cfg.Rendition)
	rs := &runState{
		cfg:      cfg,
		policy:   policy,
		guard:    loopback.Guard{AllowHost: cfg.AllowHost, Resolver: cfg.Resolver},
		rec:      newRecorder(cfg.Viewers),
		log:      log,
		hlsP:     newParseCache[*manifest.HLSState](),
		dashP:    newParseCache[*dashDoc](),
		bufs:     discardBufs(),
		gzips:    new(sync.Pool),
		unzipped: newParseCache[[]byte](),
	}
	checks := []string{cfg.URL, cfg.OriginURL}
	for _, h := range cfg.Hosts {
		checks = append(checks, "http://"+h+"/")
	}
	for _, u := range checks {
		if u == "" {
			continue
		}
		if err := rs.guard.CheckURL(ctx, u); err != nil {
			return nil, err
		}
	}
	var err error
	if rs.target, rs.kind, err = probe(ctx, rs); err != nil {
		return nil, err
	}
	rs.track = newTracker(cfg.OriginURL != "")

	started, cpu0 := time.Now(), processCPU()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()

	var helpers sync.WaitGroup // origin poller and progress; stopped after the viewers
	helpCtx, stopHelpers := context.WithCancel(runCtx)
	defer func() { stopHelpers(); helpers.Wait() }()
	if cfg.OriginURL != "" {
		p, err := newOriginPoller(ctx, rs)
		if err != nil {
			return nil, err
		}
		helpers.Go(func() { p.run(helpCtx) })
	}
	if cfg.Progress != nil {
		helpers.Go(func() { rs.reportProgress(helpCtx, started) })
	}

	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	var viewers sync.WaitGroup
	for i := range cfg.Viewers {
		if cfg.Ramp > 0 {
			at := started.Add(cfg.Ramp * time.Duration(i) / time.Duration(cfg.Viewers))
			if sleepUntil(runCtx, at) != nil {
				break
			}
		} else if runCtx.Err() != nil {
			break
		}
		v := &viewer{
			id:  i,
			rs:  rs,
			rng: rand.New(rand.NewPCG(seed, uint64(i))),
			buf: NewBuffer(cfg.StartBuffer),
			log: log.With("viewer", i),
		}
		viewers.Go(func() { v.play(runCtx) })
	}
	viewers.Wait()
	stopHelpers()
	helpers.Wait()
	rep := rs.report(started, time.Since(started))
	rep.Interrupted = ctx.Err() != nil
	rep.SimulatorCPUS = (processCPU() - cpu0).Seconds()
	if rep.ElapsedS > 0 && rep.Viewers.Joined > 0 {
		rep.SimulatorCoresPer1000 = rep.SimulatorCPUS / rep.ElapsedS / float64(rep.Viewers.Joined) * 1000
	}
	return rep, nil
}

// probe fetches the target once to learn what it is and to fail early on
// a stream the viewers could not play. It returns the URL after
// redirects.
func probe(ctx context.Context, rs *runState) (*url.URL, streamKind, error) {
	u, err := url.Parse(rs.cfg.URL)
	if err != nil {
		return nil, 0, fmt.Errorf("stream URL: %w", err)
	}
	tr := rs.guard.Transport(0)
	defer tr.CloseIdleConnections()
	f := &fetcher{client: &http.Client{Transport: tr}, timeout: rs.cfg.RequestTimeout}
	r, err := f.get(ctx, u, ClassPlaylist, getOpts{keep: true})
	if err != nil {
		return nil, 0, fmt.Errorf("probe: %w", err)
	}
	kind, err := sniff(r)
	if err != nil {
		return nil, 0, fmt.Errorf("probe %s: %w", u, err)
	}
	switch kind {
	case kindHLS:
		st, err := manifest.ParseHLS(r.body)
		if err != nil {
			return nil, 0, fmt.Errorf("probe %s: %w", u, err)
		}
		if st.Multivariant {
			vars, err := hlsVariants(r.body, r.url)
			if err != nil {
				return nil, 0, fmt.Errorf("probe %s: %w", u, err)
			}
			if _, err := rs.policy.choose(make([]int64, len(vars)), rand.New(rand.NewPCG(1, 1))); err != nil {
				return nil, 0, fmt.Errorf("probe %s: %w", u, err)
			}
		}
	case kindDASH:
		doc, err := parseMPD(r.body, r.url)
		if err != nil {
			return nil, 0, fmt.Errorf("probe %s: %w", u, err)
		}
		if _, err := rs.policy.choose(make([]int64, len(doc.renditions)), rand.New(rand.NewPCG(1, 1))); err != nil {
			return nil, 0, fmt.Errorf("probe %s: %w", u, err)
		}
	}
	return r.url, kind, nil
}

// sniff tells HLS from DASH by Content-Type, name and first bytes.
func sniff(r *response) (streamKind, error) {
	switch manifest.Classify(r.header.Get("Content-Type"), r.url.Path, r.body) {
	case manifest.ClassHLSMultivariant, manifest.ClassHLSMedia:
		return kindHLS, nil
	case manifest.ClassDASHMPD:
		return kindDASH, nil
	}
	return 0, fmt.Errorf("not an HLS playlist or a DASH MPD: %w", ErrUnsupported)
}

// reportProgress calls cfg.Progress every interval until ctx ends.
func (rs *runState) reportProgress(ctx context.Context, started time.Time) {
	t := time.NewTicker(rs.cfg.ProgressInterval)
	defer t.Stop()
	last, lastAt := rs.rec.requests.Load(), started
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			reqs := rs.rec.requests.Load()
			rs.cfg.Progress(Progress{
				Elapsed:   now.Sub(started),
				Joined:    rs.rec.joined.Load(),
				Active:    rs.rec.active.Load(),
				ReqPerSec: float64(reqs-last) / now.Sub(lastAt).Seconds(),
				Rebuffers: rs.rec.rebuffers.Load(),
				P99TTFB:   time.Duration(rs.rec.ttfbAll.Quantile(0.99) * float64(time.Second)),
			})
			last, lastAt = reqs, now
		}
	}
}

// viewer is one simulated player. Its fields are used by its own
// goroutine only.
type viewer struct {
	id    int
	rs    *runState
	rng   *rand.Rand
	buf   *Buffer
	log   *slog.Logger
	fetch *fetcher

	seenRebuffers int
	lastLatency   time.Time
	lastPublish   time.Time       // newest MPD publishTime loaded
	inits         map[string]bool // init segments fetched, by URL
}

// play runs the viewer until ctx ends or the stream does.
func (v *viewer) play(ctx context.Context) {
	rec := v.rs.rec
	rec.joined.Add(1)
	rec.active.Add(1)
	defer rec.active.Add(-1)
	tr := v.rs.guard.Transport(0)
	defer tr.CloseIdleConnections()
	var rt http.RoundTripper = tr
	if hs := v.rs.cfg.Hosts; len(hs) > 0 {
		rt = &hostFailover{base: tr, hosts: hs, cur: v.id % len(hs), moved: func() { rec.failovers.Add(1) }, lost: func(n int64) { rec.lostOnDeadHost.Add(n) }}
	}
	v.fetch = &fetcher{client: &http.Client{Transport: rt}, rec: rec, timeout: v.rs.cfg.RequestTimeout, bufs: v.rs.bufs, gzips: v.rs.gzips, unzipped: v.rs.unzipped}

	joined := time.Now()
	var err error
	if v.rs.kind == kindDASH {
		err = v.followDASH(ctx)
	} else {
		err = v.followHLS(ctx)
	}
	if err != nil && ctx.Err() == nil {
		v.log.Warn("viewer gave up", "err", err)
	}
	now := time.Now()
	s := v.buf.Stats(now)
	v.sync(now)
	o := outcome{
		started:   s.Started,
		rebuffers: s.Rebuffers,
		played:    s.Played,
		stalled:   s.Stalled,
		ratio:     s.RebufferRatio(),
	}
	if s.Started {
		o.startup = s.StartedAt.Sub(joined)
	}
	rec.finish(o)
}

// sync brings the buffer to now, publishes new rebuffers, and samples the
// live latency at most once a second.
func (v *viewer) sync(now time.Time) {
	s := v.buf.Stats(now)
	if d := s.Rebuffers - v.seenRebuffers; d > 0 {
		v.rs.rec.rebuffers.Add(int64(d))
		v.seenRebuffers = s.Rebuffers
	}
	if now.Sub(v.lastLatency) >= time.Second {
		if l, ok := v.buf.Latency(now); ok {
			v.rs.rec.latency.Record(l.Seconds())
			v.lastLatency = now
		}
	}
}

// retryDelay is how long to wait after a failed playlist load.
func (v *viewer) retryDelay() time.Duration { return 500 * time.Millisecond }

// recordAge samples the Age of a playlist response.
func (v *viewer) recordAge(r *response) {
	if a, ok := ageOf(r.header); ok {
		v.rs.rec.age.Record(a)
	}
}

// observeSeq tells the tracker the newest sequence number this viewer's
// playlist lists and records how far that is behind the newest known.
func (v *viewer) observeSeq(key int, seq int64) {
	if newest, ok := v.rs.track.observe(key, seq); ok {
		v.rs.rec.lag.Record(float64(max(newest-seq, 0)))
	}
}

// fetchInits downloads each init segment of a rendition once.
func (v *viewer) fetchInits(ctx context.Context, base *url.URL, uris []string) error {
	for _, s := range uris {
		u, err := base.Parse(s)
		if err != nil {
			continue
		}
		key := u.String()
		if v.inits[key] {
			continue
		}
		if _, err := v.fetch.get(ctx, u, ClassInit, getOpts{}); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue // counted; tried again with the next playlist
		}
		if v.inits == nil {
			v.inits = make(map[string]bool)
		}
		v.inits[key] = true
	}
	return nil
}

// fetchMedia downloads a segment or part and adds it to the buffer. A
// failed one is tried once more, then given up as skipped. The error is
// ctx's only.
func (v *viewer) fetchMedia(ctx context.Context, u *url.URL, class Class, rangeHdr string, dur time.Duration, wall time.Time) error {
	rec := v.rs.rec
	for attempt := range 2 {
		r, err := v.fetch.get(ctx, u, class, getOpts{rangeHdr: rangeHdr})
		now := time.Now()
		if err == nil {
			rec.segments.Add(1)
			if dur > 0 {
				rec.dlRatio.Record(r.total.Seconds() / dur.Seconds())
			}
			v.buf.Add(now, dur, wall)
			v.sync(now)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.sync(now)
		if v.log.Enabled(ctx, slog.LevelDebug) { // u.String costs on a hot path
			v.log.Debug("media fetch failed", "url", u.String(), "attempt", attempt, "err", err)
		}
	}
	rec.skipped.Add(1)
	return nil
}

// drain waits, after the end of the stream, until the buffer has played
// out or ctx ends.
func (v *viewer) drain(ctx context.Context) error {
	now := time.Now()
	v.buf.End(now)
	for !v.buf.Done() {
		if err := sleepUntil(ctx, now.Add(v.buf.Level()+time.Millisecond)); err != nil {
			return err
		}
		now = time.Now()
		v.sync(now)
	}
	return nil
}
