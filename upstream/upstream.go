// Package upstream is the set of origins one edge route can fill from:
// their order for a request (failover, round robin, or rendezvous hashing
// of the cache key over shield replicas), their health (passive, from the
// outcomes the proxy reports, and an optional active check), and their
// counters. It knows URLs and outcomes, not requests or caches: the proxy
// asks Order, tries the origins in turn, and Reports what happened.
package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Role says when an origin is tried.
type Role uint8

const (
	// Primary origins are tried first.
	Primary Role = iota
	// Backup origins are tried only after every healthy primary.
	Backup
)

func (r Role) String() string {
	if r == Backup {
		return "backup"
	}
	return "primary"
}

// Mode is how the set orders its origins for a request.
type Mode string

const (
	// ModeFailover tries the primaries in configured order, then the
	// backups: all traffic goes to the first healthy one.
	ModeFailover Mode = "failover"
	// ModeRoundRobin spreads requests over the healthy primaries by
	// weight, the others following as failover.
	ModeRoundRobin Mode = "round_robin"
	// ModeHash picks the primary by rendezvous (highest random weight)
	// hashing of the request key, so every edge sends a given cache key
	// to the same shield replica and a replica that leaves moves only its
	// own share of keys; the other primaries follow in hash order, then
	// the backups.
	ModeHash Mode = "hash"
)

// OriginConfig is one entry of a route's `origins:` list.
type OriginConfig struct {
	// URL is the absolute http(s) URL the route prefix is replaced with.
	URL string `yaml:"url"`
	// Role is "primary" or "backup". Empty means primary.
	Role string `yaml:"role"`
	// Weight scales the origin's share in round_robin and hash modes.
	// Zero means 1.
	Weight int `yaml:"weight"`
}

// HealthConfig says when an origin is taken out of the order and when it
// comes back.
type HealthConfig struct {
	// Failures is how many consecutive failed requests (5xx before
	// headers, timeouts, a body cut short) mark an origin down. A refused
	// connection marks it down at once. Zero means 3.
	Failures int `yaml:"failures"`
	// Backoff is how long a down origin is left out before it is tried
	// again. Each trip without a success in between doubles it, up to
	// MaxBackoff. Zero means 5s.
	Backoff time.Duration `yaml:"backoff"`
	// MaxBackoff bounds the doubled backoff. Zero means 60s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// CheckPath, when set, turns on the active check: every CheckInterval
	// CheckPath on each origin's host (from the root, not under the
	// origin URL's path: a packager's /readyz) is fetched with GET; a
	// 2xx or 3xx answer marks a down origin up at once, anything else
	// counts as a failure. Empty means passive health only.
	CheckPath string `yaml:"check_path"`
	// CheckPort, when set, sends the check to this port of each origin's
	// host instead of the origin URL's: an edgecache shield answers
	// /readyz on its admin listener, not on the one that serves media.
	// Zero means the origin URL's port.
	CheckPort int `yaml:"check_port"`
	// CheckInterval is the period of the active check. Zero means 5s.
	CheckInterval time.Duration `yaml:"check_interval"`
	// CheckTimeout bounds one check request. Zero means 2s.
	CheckTimeout time.Duration `yaml:"check_timeout"`
}

// Config builds a Set.
type Config struct {
	// Route labels the set in logs and metrics.
	Route   string
	Origins []OriginConfig
	// Mode is failover, round_robin or hash. Empty means failover.
	Mode   Mode
	Health HealthConfig
	// Now reads the clock for health decisions. Nil means time.Now.
	Now func() time.Time
	// Client makes the active check's requests. Nil means a client with
	// no redirects followed and CheckTimeout per request.
	Client *http.Client
	// Logger receives health transitions. Nil discards them.
	Logger *slog.Logger
}

// ErrConfig is wrapped by every configuration error New returns.
var ErrConfig = errors.New("upstream: bad config")

// Outcome is what one request to an origin came to, as the proxy saw it.
type Outcome uint8

const (
	// Success: the origin answered with headers other than a 5xx (a 4xx
	// is the origin's answer, not its failure).
	Success Outcome = iota
	// ConnectError: the connection was refused or could not be made.
	ConnectError
	// ServerError: a 5xx status before any byte went to a viewer.
	ServerError
	// Timeout: no headers within the fill's deadline.
	Timeout
	// BodyError: the body broke off after the headers.
	BodyError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"success", "connect_error", "server_error", "timeout", "body_error"}

func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// OutcomeNames lists every Outcome's String, for metric labels.
func OutcomeNames() []string { return outcomeNames[:] }

// Origin is one member of a Set. Its URL and role never change; its
// health is guarded by the Set's lock.
type Origin struct {
	URL    *url.URL
	Raw    string // URL as configured
	Role   Role
	Weight int
	index  int    // position in the configured list
	seed   uint64 // fnv64a of Raw: the member's identity for hashing

	// guarded by Set.mu
	fails     int       // consecutive failures
	downUntil time.Time // zero: up
	backoff   time.Duration
	trips     uint64 // times marked down

	outcomes [numOutcomes]atomic.Uint64
}

// Set is the origins of one route. Its methods are safe for concurrent use.
type Set struct {
	cfg     Config
	origins []*Origin // configured order
	rr      atomic.Uint64
	total   int // sum of primary weights
	log     *slog.Logger

	mu sync.Mutex // guards every Origin's health fields

	closeOnce sync.Once
	cancel    func()
	done      chan struct{}
}

// New validates cfg and builds the set. The active check, if configured,
// runs only once Start is called.
func New(cfg Config) (*Set, error) {
	if len(cfg.Origins) == 0 {
		return nil, fmt.Errorf("%w: route %q: no origins", ErrConfig, cfg.Route)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeFailover
	case ModeFailover, ModeRoundRobin, ModeHash:
	default:
		return nil, fmt.Errorf("%w: route %q: mode %q (want failover, round_robin or hash)", ErrConfig, cfg.Route, cfg.Mode)
	}
	h := &cfg.Health
	if h.Failures < 0 || h.Backoff < 0 || h.MaxBackoff < 0 || h.CheckInterval < 0 || h.CheckTimeout < 0 {
		return nil, fmt.Errorf("%w: route %q: negative health setting", ErrConfig, cfg.Route)
	}
	if h.Failures == 0 {
		h.Failures = 3
	}
	if h.Backoff == 0 {
		h.Backoff = 5 * time.Second
	}
	if h.MaxBackoff == 0 {
		h.MaxBackoff = 60 * time.Second
	}
	if h.MaxBackoff < h.Backoff {
		h.MaxBackoff = h.Backoff
	}
	if h.CheckInterval == 0 {
		h.CheckInterval = 5 * time.Second
	}
	if h.CheckTimeout == 0 {
		h.CheckTimeout = 2 * time.Second
	}
	if h.CheckPath != "" && h.CheckPath[0] != '/' {
		return nil, fmt.Errorf("%w: route %q: check_path %q must start with /", ErrConfig, cfg.Route, h.CheckPath)
	}
	if h.CheckPort < 0 || h.CheckPort > 65535 || h.CheckPort != 0 && h.CheckPath == "" {
		return nil, fmt.Errorf("%w: route %q: check_port %d: want a port (1-65535) and a check_path", ErrConfig, cfg.Route, h.CheckPort)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:       h.CheckTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	s := &Set{cfg: cfg, log: cfg.Logger.With("component", "upstream", "route", cfg.Route)}
	seen := make(map[string]bool)
	primaries := 0
	for i, oc := range cfg.Origins {
		u, err := url.Parse(oc.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: route %q: origin %q is not an absolute http(s) URL", ErrConfig, cfg.Route, oc.URL)
		}
		if seen[oc.URL] {
			return nil, fmt.Errorf("%w: route %q: origin %q listed twice", ErrConfig, cfg.Route, oc.URL)
		}
		seen[oc.URL] = true
		o := &Origin{URL: u, Raw: oc.URL, Weight: oc.Weight, index: i, seed: fnv64a(oc.URL)}
		switch oc.Role {
		case "", "primary":
			o.Role = Primary
			primaries++
		case "backup":
			o.Role = Backup
		default:
			return nil, fmt.Errorf("%w: route %q: origin %q role %q (want primary or backup)", ErrConfig, cfg.Route, oc.URL, oc.Role)
		}
		if o.Weight < 0 || o.Weight > 1000 {
			return nil, fmt.Errorf("%w: route %q: origin %q weight %d (want 0..1000)", ErrConfig, cfg.Route, oc.URL, oc.Weight)
		}
		if o.Weight == 0 {
			o.Weight = 1
		}
		if o.Role == Primary {
			s.total += o.Weight
		}
		o.backoff = h.Backoff
		s.origins = append(s.origins, o)
	}
	if primaries == 0 {
		return nil, fmt.Errorf("%w: route %q: every origin is a backup", ErrConfig, cfg.Route)
	}
	return s, nil
}

// Origins returns the members in configured order. The slice is shared:
// do not modify it.
func (s *Set) Origins() []*Origin { return s.origins }

// Mode returns the set's ordering mode.
func (s *Set) Mode() Mode { return s.cfg.Mode }

// Route returns the route label the set was built with.
func (s *Set) Route() string { return s.cfg.Route }

// Healthy reports whether o is in the order now (not down, or its backoff
// has run out and it may be tried again).
func (s *Set) Healthy(o *Origin) bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return o.upLocked(now)
}

func (o *Origin) upLocked(now time.Time) bool {
	return o.downUntil.IsZero() || !now.Before(o.downUntil)
}

// Report records the outcome of one request to o and updates its health:
// a success marks it up and resets its backoff; a refused connection marks
// it down at once; other failures mark it down after Health.Failures in a
// row. An origin whose backoff has run out is tried again, and one failure
// then sends it back down for twice as long.
func (s *Set) Report(o *Origin, out Outcome) {
	if out < numOutcomes {
		o.outcomes[out].Add(1)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if out == Success {
		s.markUpLocked(o, "success")
		return
	}
	o.fails++
	probing := !o.downUntil.IsZero() // it was down and is being retried
	if out == ConnectError || probing || o.fails >= s.cfg.Health.Failures {
		s.markDownLocked(o, now, out.String())
	}
}

func (s *Set) markUpLocked(o *Origin, why string) {
	if !o.downUntil.IsZero() {
		s.log.Info("origin up", "origin", o.Raw, "reason", why)
	}
	o.fails = 0
	o.downUntil = time.Time{}
	o.backoff = s.cfg.Health.Backoff
}

func (s *Set) markDownLocked(o *Origin, now time.Time, why string) {
	if !o.downUntil.IsZero() && now.Before(o.downUntil) {
		return // already down: a late report from a request in flight
	}
	wasDown := !o.downUntil.IsZero()
	if wasDown {
		o.backoff = min(2*o.backoff, s.cfg.Health.MaxBackoff)
	}
	o.downUntil = now.Add(o.backoff)
	o.trips++
	s.log.Warn("origin down", "origin", o.Raw, "reason", why, "for", o.backoff)
}

// Order returns the origins to try for a request whose cache key is key,
// best first: the healthy primaries (in configured order, rotated by
// weight, or by rendezvous hash of key, per Mode), then the healthy
// backups in configured order, then the down origins, soonest to recover
// first, as a last resort. Every member appears exactly once.
func (s *Set) Order(key string) []*Origin {
	return s.AppendOrder(make([]*Origin, 0, len(s.origins)), key)
}

// AppendOrder appends Order(key) to dst, for callers that reuse a slice.
func (s *Set) AppendOrder(dst []*Origin, key string) []*Origin {
	now := s.cfg.Now()
	var up, down [16]bool
	var upS, downS []bool
	if len(s.origins) <= len(up) {
		upS, downS = up[:len(s.origins)], down[:len(s.origins)]
	} else {
		upS, downS = make([]bool, len(s.origins)), make([]bool, len(s.origins))
	}
	s.mu.Lock()
	for i, o := range s.origins {
		upS[i] = o.upLocked(now)
		downS[i] = !upS[i]
	}
	s.mu.Unlock()

	// Healthy primaries.
	start := len(dst)
	for i, o := range s.origins {
		if upS[i] && o.Role == Primary {
			dst = append(dst, o)
		}
	}
	prim := dst[start:]
	switch s.cfg.Mode {
	case ModeRoundRobin:
		s.rotate(prim)
	case ModeHash:
		sortByScore(prim, keyHash(key))
	}
	// Healthy backups, configured order.
	for i, o := range s.origins {
		if upS[i] && o.Role == Backup {
			dst = append(dst, o)
		}
	}
	// Down origins, soonest back first (stable on configured order).
	dstart := len(dst)
	for i, o := range s.origins {
		if downS[i] {
			dst = append(dst, o)
		}
	}
	if len(dst)-dstart > 1 {
		s.mu.Lock()
		downs := dst[dstart:]
		for i := 1; i < len(downs); i++ { // insertion sort: a handful
			for j := i; j > 0 && downs[j].downUntil.Before(downs[j-1].downUntil); j-- {
				downs[j], downs[j-1] = downs[j-1], downs[j]
			}
		}
		s.mu.Unlock()
	}
	return dst
}

// rotate puts first the primary whose weighted turn it is: request n goes
// to the origin covering n mod (sum of weights) in the cumulative weights of
// the healthy primaries; the rest follow in configured order after it.
func (s *Set) rotate(prim []*Origin) {
	if len(prim) < 2 {
		return
	}
	total := 0
	for _, o := range prim {
		total += o.Weight
	}
	r := int((s.rr.Add(1) - 1) % uint64(total))
	k := 0
	for i, o := range prim {
		if r < o.Weight {
			k = i
			break
		}
		r -= o.Weight
	}
	rotateLeft(prim, k)
}

func rotateLeft(a []*Origin, k int) {
	if k == 0 {
		return
	}
	reverse(a[:k])
	reverse(a[k:])
	reverse(a)
}

func reverse(a []*Origin) {
	for i, j := 0, len(a)-1; i < j; i, j = i+1, j-1 {
		a[i], a[j] = a[j], a[i]
	}
}

// Stats is one origin's state and counters, read at scrape time.
type Stats struct {
	Route, URL, Role string
	Up               bool
	Trips            uint64              // times marked down
	Outcomes         [numOutcomes]uint64 // by Outcome
}

// Stats returns every member's state and counters in configured order.
func (s *Set) Stats() []Stats {
	now := s.cfg.Now()
	out := make([]Stats, len(s.origins))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.origins {
		st := Stats{Route: s.cfg.Route, URL: o.Raw, Role: o.Role.String(), Up: o.upLocked(now), Trips: o.trips}
		for j := range o.outcomes {
			st.Outcomes[j] = o.outcomes[j].Load()
		}
		out[i] = st
	}
	return out
}
