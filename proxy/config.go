package proxy

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/manifest"
	"github.com/edgecache/edgecache/upstream"
)

// Config is the proxy's policy. DefaultConfig gives values that suit live
// HLS and DASH; a YAML file is decoded over it, so a file names only what it
// changes. Validate before use.
type Config struct {
	// Routes map path prefixes to origins, like nginx `location` plus
	// `proxy_pass` with a URI. At least one is required.
	Routes []Route `yaml:"routes"`
	// Cache sizes the RAM cache.
	Cache CacheConfig `yaml:"cache"`
	// Origin bounds every origin request.
	Origin OriginConfig `yaml:"origin"`
	// Client bounds client connections.
	Client ClientConfig `yaml:"client"`
	// Classes is the policy per object class: "manifest", "segment",
	// "init", "other". A class not named keeps its default.
	Classes map[string]ClassPolicy `yaml:"classes"`
	// StatusTTL caches responses of these statuses that carry no freshness
	// information, for this long (nginx proxy_cache_valid for non-200
	// codes). A class's own StatusTTL overrides an entry here. A status
	// not listed is not cached without explicit freshness.
	StatusTTL map[int]time.Duration `yaml:"status_ttl"`
	// Prefetch fetches what a new media playlist adds (segments, maps,
	// parts) in the background, for renditions viewers are watching.
	// Default true.
	Prefetch bool `yaml:"prefetch"`
	// PrefetchConcurrency bounds prefetches running at once. Default 8.
	PrefetchConcurrency int `yaml:"prefetch_concurrency"`
	// TrustedProxies are the peers (CIDRs or addresses: the ingress, a
	// load balancer) whose X-Forwarded-For is believed: the client address
	// logged, counted and checked is the rightmost X-Forwarded-For entry
	// not in this list, as nginx real_ip with real_ip_recursive on. Empty:
	// the peer's address is the client's.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ServerName is this instance's pseudonym in Via (RFC 9110 7.6.3). A
	// request whose Via already names it is a loop and gets 508. Empty
	// means the host name.
	ServerName string `yaml:"server_name"`
}

// Route maps one path prefix to one origin.
type Route struct {
	// Prefix is the path prefix, starting and ending with "/" ("/" alone
	// routes everything). The longest matching prefix wins.
	Prefix string `yaml:"prefix"`
	// Origin is the absolute http(s) URL the prefix is replaced with, as in
	// `proxy_pass http://origin/hls/;`. Exactly one of Origin and Origins
	// is given.
	Origin string `yaml:"origin"`
	// Origins, instead of Origin, is a set of origins serving the same
	// paths (docs/fleet.md, proxy/origins.go): redundant packagers, or the
	// replicas of a shield tier. Each fill tries them in OriginsMode order
	// and moves to the next while no byte has gone to a viewer.
	Origins []upstream.OriginConfig `yaml:"origins"`
	// OriginsMode orders Origins: failover (the default), round_robin, or
	// hash (rendezvous hashing of the cache key: each shield replica
	// holds a share).
	OriginsMode upstream.Mode `yaml:"origins_mode"`
	// OriginsHealth says when an origin is left out and when it is tried
	// again (upstream.HealthConfig; zero values take its defaults).
	OriginsHealth upstream.HealthConfig `yaml:"origins_health"`
	// OriginsFreshest asks every healthy origin for each playlist refresh
	// and serves the freshest (manifest.FresherHLS, FresherDASH): for
	// redundant packagers publishing one stream. False: the first origin
	// that answers.
	OriginsFreshest bool `yaml:"origins_freshest"`
	// Name labels the route in metrics. Empty means the prefix.
	Name string `yaml:"name"`
	// OriginHeaders are set on every request to this route's origin
	// (fills, prefetches and pass-through), replacing any viewer value:
	// a CDN secret the origin requires, for example
	// `Authorization: Bearer ...`, so that viewers' own credentials need
	// not be passed. Empty: none.
	OriginHeaders map[string]string `yaml:"origin_headers"`
	// ForwardHeaders names viewer request headers passed to the origin on
	// shared fills (by default only User-Agent is, plus the edge's own Via
	// and X-Forwarded-For). The value of each becomes part of the cache
	// key, so viewers who send different values never share a response.
	// When Authorization or Cookie is named, a response to a request that
	// carried it is stored only when the origin allows a shared cache to
	// (RFC 9111 3.5: public, s-maxage or must-revalidate). Empty: none.
	ForwardHeaders []string `yaml:"forward_headers"`
	// OriginHost is the Host sent to the origin (nginx proxy_set_header
	// Host): empty for the origin URL's host, "$host" for the viewer's
	// Host (which then becomes part of the cache key, so one viewer's Host
	// never chooses what another gets), or a fixed host name.
	OriginHost string `yaml:"origin_host"`
	// ResponseHeaders are set on every response of the route, hits, misses
	// and the edge's own errors alike, replacing any value the origin sent
	// (nginx add_header ... always). Empty: none.
	ResponseHeaders map[string]string `yaml:"response_headers"`
	// CORS answers cross-origin requests at the edge. Zero value: the
	// origin's CORS headers and preflight answers pass through unchanged.
	CORS CORSConfig `yaml:"cors"`
	// Auth checks a token on every request of the route before the cache
	// is consulted: nginx secure_link or a CTA-5007 Common Access Token
	// (docs/tokens.md). Nil: open.
	Auth *auth.Config `yaml:"auth"`
}

// CacheConfig sizes the RAM cache.
type CacheConfig struct {
	// MaxBytes bounds the cached bytes (bodies, headers and a per-entry
	// overhead). Zero means 512 MiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxObjectBytes is the largest body stored; larger ones stream through
	// with BYPASS. Zero means MaxBytes/8.
	MaxObjectBytes ByteSize `yaml:"max_object_bytes"`
	// MaxInflightBytes bounds the bytes held by fills in flight (bodies
	// being collected for the store, windows of pass-through streams),
	// counted as they arrive. Past it, a fill collecting a body stops
	// collecting and streams on to its viewers uncached, and pass-through
	// streams wait for their viewers to read. So the process needs at most
	// MaxBytes + MaxInflightBytes plus a small base, whatever the traffic.
	// Zero means MaxBytes/2 (at least MaxObjectBytes).
	MaxInflightBytes ByteSize `yaml:"max_inflight_bytes"`
}

// OriginConfig bounds origin requests. Zero values take the defaults shown.
type OriginConfig struct {
	// ConnectTimeout bounds the TCP (and TLS) connect. Default 3s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// FirstByteTimeout bounds the wait for the response head. Default 10s.
	FirstByteTimeout time.Duration `yaml:"first_byte_timeout"`
	// IdleTimeout fails a body that sends nothing for this long. Default 10s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// FillTimeout bounds a whole fill. Default 5m.
	FillTimeout time.Duration `yaml:"fill_timeout"`
	// MaxIdleConnsPerHost keeps this many idle connections per origin.
	// Default 64.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host"`
}

// ClientConfig bounds client connections.
type ClientConfig struct {
	// ReadHeaderTimeout bounds reading a request head. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// WriteIdleTimeout aborts a response the client has not accepted a byte
	// of for this long, and closes the connection, as nginx's
	// send_timeout: every wait for room in the socket is bounded, whatever
	// the response's size or path (read at each accept, so a reload
	// applies to new connections). Default 30s.
	WriteIdleTimeout time.Duration `yaml:"write_idle_timeout"`
	// MaxHeaderBytes bounds a request head; a larger one gets 431.
	// Default 64 KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds a request body passed through to the origin (a
	// method the cache does not serve), as nginx's client_max_body_size:
	// a longer declared length gets 413 before the origin is asked, and
	// a chunked body that grows past it is cut off with 413. Default
	// 1 MiB; 0 means no limit (nginx's client_max_body_size 0).
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// BodyTimeout bounds each wait for the next bytes of a request body,
	// as nginx's client_body_timeout (between two reads, not the whole
	// body): a viewer that stalls longer gets 408. Default 60s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// StreamBodies passes a request body to the origin as it arrives, as
	// nginx's `proxy_request_buffering off`. By default (false) the edge
	// reads a body whole, up to max_body_bytes, before it asks an origin,
	// as nginx does by default: a viewer that sends its body slowly then
	// holds only its own connection, never an origin connection, and the
	// origin gets the body at once with its length. With max_body_bytes 0
	// (no limit) bodies are always streamed: nothing would bound the
	// buffer.
	StreamBodies bool `yaml:"stream_bodies"`
	// BodyBufferBytes bounds the memory all request bodies being read
	// whole take at once (charged as they grow, not by their declared
	// length, until the origin has them); a body that would go past it
	// gets 503 with Retry-After.
	// Default 64 MiB; it must be at least max_body_bytes.
	BodyBufferBytes ByteSize `yaml:"body_buffer_bytes"`
	// MaxConns bounds the viewer connections open at once, as nginx's
	// worker_connections and HAProxy's maxconn: a connection past it is
	// closed as soon as it is accepted (a reset; counted in
	// edgecache_connections_refused_total), so a flood of connections
	// can take neither the memory nor the file descriptors the origin
	// connections need. 0 (the default): the open-file limit less a tenth
	// (at least 256 kept) for origin connections and files. Read at each
	// accept, so a reload applies at once.
	MaxConns int `yaml:"max_conns"`
	// SendBuffer is each viewer connection's socket send buffer
	// (SO_SNDBUF, as nginx's `listen ... sndbuf=`), or "auto" for the
	// kernel's autotuning (net.ipv4.tcp_wmem). Default 512 KiB: a fixed
	// buffer bounds the kernel memory a viewer can pin, and on loopback
	// it cut the CPU per 1.2 MB hit by about a seventh against
	// autotuning's 4 MiB; at round-trip time RTT it bounds one
	// connection to about 2*SendBuffer/RTT (80 Mbit/s at 100 ms).
	SendBuffer SendBuffer `yaml:"send_buffer"`
}

// SendBuffer is client.send_buffer: a size (as ByteSize) or "auto".
type SendBuffer int64

// SendBufferAuto leaves the send buffer to the kernel's autotuning.
const SendBufferAuto SendBuffer = -1

// UnmarshalText accepts "auto" or a size.
func (b *SendBuffer) UnmarshalText(text []byte) error {
	if strings.TrimSpace(string(text)) == "auto" {
		*b = SendBufferAuto
		return nil
	}
	n, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = SendBuffer(n)
	return nil
}

// ClassPolicy is how one object class is cached.
type ClassPolicy struct {
	// TTL is the freshness lifetime of a 200 that carries no freshness
	// information (no Cache-Control max-age/s-maxage, no Expires). Zero
	// means such responses are not cached. For HLS media playlists the
	// playlist-derived lifetime replaces it.
	TTL time.Duration `yaml:"ttl"`
	// Override makes TTL (and StatusTTL) win over the origin's own
	// freshness, like nginx `proxy_ignore_headers Cache-Control Expires`.
	Override bool `yaml:"override"`
	// MaxTTL caps every lifetime of this class, the origin's included.
	// Zero means no cap.
	MaxTTL time.Duration `yaml:"max_ttl"`
	// StatusTTL overrides the global StatusTTL for this class.
	StatusTTL map[int]time.Duration `yaml:"status_ttl"`
	// StaleWhileUpdating is how stale an entry may be and still be served
	// as UPDATING while one request refreshes it. Zero means every request
	// waits for the refresh. The origin's stale-while-revalidate extends it.
	StaleWhileUpdating time.Duration `yaml:"stale_while_updating"`
	// RefreshWait is how long a request waits for a refresh under way
	// before it takes the stale copy as UPDATING. Zero means it takes the
	// stale copy at once.
	RefreshWait time.Duration `yaml:"refresh_wait"`
	// StaleIfError is how stale an entry may be and still be served as
	// STALE when the origin fails (error, timeout or 5xx). Zero means
	// never. The origin's stale-if-error extends it; must-revalidate
	// forbids it.
	StaleIfError time.Duration `yaml:"stale_if_error"`
	// DropQuery names query parameters left out of the cache key (viewer
	// tokens). _HLS_msn, _HLS_part and _HLS_skip are always kept.
	DropQuery []string `yaml:"drop_query"`
}

// ByteSize is a size in bytes; YAML accepts 1048576, "512MiB", "1GB",
// "64KiB".
type ByteSize int64

// UnmarshalText parses a size with an optional unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	n, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

// ParseByteSize parses "123", "64KiB", "512MiB", "1GiB", "1GB", "10MB",
// and nginx's "64k", "10m", "1g" (powers of 1024).
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	// The bound also refuses NaN and infinities, and sizes past int64.
	if err != nil || !(n >= 0 && n*float64(mult) < 1<<62) {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// DefaultConfig returns a config that suits live HLS and DASH, with no
// routes.
func DefaultConfig() Config {
	return Config{
		Cache: CacheConfig{MaxBytes: 512 << 20},
		Origin: OriginConfig{
			ConnectTimeout:      3 * time.Second,
			FirstByteTimeout:    10 * time.Second,
			IdleTimeout:         10 * time.Second,
			FillTimeout:         5 * time.Minute,
			MaxIdleConnsPerHost: 64,
		},
		Client: ClientConfig{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			WriteIdleTimeout:  30 * time.Second,
			MaxHeaderBytes:    64 << 10,
			MaxBodyBytes:      1 << 20,
			BodyTimeout:       60 * time.Second,
			BodyBufferBytes:   64 << 20,
			SendBuffer:        512 << 10,
		},
		Classes: map[string]ClassPolicy{
			// Live playlists change every target duration: a short default,
			// replaced by the playlist-derived lifetime, served stale only
			// briefly while one request refreshes it.
			"manifest": {TTL: time.Second, StaleWhileUpdating: time.Second, RefreshWait: 500 * time.Millisecond, StaleIfError: 10 * time.Second},
			// Segments and init segments never change under one URL.
			"segment": {TTL: 10 * time.Minute, StaleIfError: time.Minute},
			"init":    {TTL: 10 * time.Minute, StaleIfError: time.Minute},
			"other":   {StaleIfError: time.Minute},
		},
		Prefetch:            true,
		PrefetchConcurrency: 8,
		// A 404 at stream start must not outlive the segment it names
		// (issue: nginx and Varnish cached it for a minute).
		StatusTTL: map[int]time.Duration{404: time.Second},
	}
}

// Validate checks the config and fills the zero values that have defaults.
func (c *Config) Validate() error {
	def := DefaultConfig()
	// The checks below fill defaults in; the caller's slices and maps
	// stay as they were given.
	c.Routes = append([]Route(nil), c.Routes...)
	c.Classes = maps.Clone(c.Classes)
	if len(c.Routes) == 0 {
		return errors.New("config: no routes: give -origin URL or routes in the config file")
	}
	seen := map[string]bool{}
	for i := range c.Routes {
		r := &c.Routes[i]
		if !strings.HasPrefix(r.Prefix, "/") || !strings.HasSuffix(r.Prefix, "/") {
			return fmt.Errorf("config: route %d: prefix %q must start and end with /", i, r.Prefix)
		}
		if n, err := normalisePath(r.Prefix); err != nil || n != r.Prefix {
			// Requests are routed by their normalised path; a prefix no
			// normalised path can start with would never match.
			return fmt.Errorf("config: route %d: prefix %q is not in normal form (want %q)", i, r.Prefix, n)
		}
		if seen[r.Prefix] {
			return fmt.Errorf("config: route %d: prefix %q given twice", i, r.Prefix)
		}
		seen[r.Prefix] = true
		if err := r.validateOrigins(); err != nil {
			return err
		}
		if r.Name == "" {
			r.Name = r.Prefix
		}
		if err := r.validateHeaders(); err != nil {
			return fmt.Errorf("config: route %q: %w", r.Prefix, err)
		}
		if err := r.CORS.validate(); err != nil {
			return fmt.Errorf("config: route %q: cors: %w", r.Prefix, err)
		}
		if r.Auth != nil {
			if err := r.Auth.Validate(); err != nil {
				return fmt.Errorf("config: route %q: %w", r.Prefix, err)
			}
		}
	}
	if c.Cache.MaxBytes <= 0 {
		c.Cache.MaxBytes = def.Cache.MaxBytes
	}
	if c.Cache.MaxObjectBytes <= 0 {
		c.Cache.MaxObjectBytes = c.Cache.MaxBytes / 8
	}
	if c.Cache.MaxInflightBytes <= 0 {
		c.Cache.MaxInflightBytes = max(c.Cache.MaxBytes/2, c.Cache.MaxObjectBytes)
	}
	if c.Cache.MaxObjectBytes > c.Cache.MaxBytes {
		return fmt.Errorf("config: cache.max_object_bytes %d exceeds cache.max_bytes %d", c.Cache.MaxObjectBytes, c.Cache.MaxBytes)
	}
	o, d := &c.Origin, def.Origin
	setDur(&o.ConnectTimeout, d.ConnectTimeout)
	setDur(&o.FirstByteTimeout, d.FirstByteTimeout)
	setDur(&o.IdleTimeout, d.IdleTimeout)
	setDur(&o.FillTimeout, d.FillTimeout)
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = d.MaxIdleConnsPerHost
	}
	cl, dc := &c.Client, def.Client
	setDur(&cl.ReadHeaderTimeout, dc.ReadHeaderTimeout)
	setDur(&cl.IdleTimeout, dc.IdleTimeout)
	setDur(&cl.WriteIdleTimeout, dc.WriteIdleTimeout)
	setDur(&cl.BodyTimeout, dc.BodyTimeout)
	if cl.MaxHeaderBytes <= 0 {
		cl.MaxHeaderBytes = dc.MaxHeaderBytes
	}
	if cl.MaxConns < 0 {
		return fmt.Errorf("config: client.max_conns %d is negative", cl.MaxConns)
	}
	if cl.MaxBodyBytes < 0 {
		return fmt.Errorf("config: client.max_body_bytes %d is negative", cl.MaxBodyBytes)
	}
	if cl.BodyBufferBytes <= 0 {
		cl.BodyBufferBytes = dc.BodyBufferBytes
	}
	if !cl.StreamBodies && cl.MaxBodyBytes > cl.BodyBufferBytes {
		return fmt.Errorf("config: client.max_body_bytes %d exceeds client.body_buffer_bytes %d: raise body_buffer_bytes, or set stream_bodies", cl.MaxBodyBytes, cl.BodyBufferBytes)
	}
	if cl.MaxHeaderBytes < minHeaderBytes {
		return fmt.Errorf("config: client.max_header_bytes %d is below the minimum of 8KiB", cl.MaxHeaderBytes)
	}
	switch {
	case cl.SendBuffer == 0:
		cl.SendBuffer = dc.SendBuffer
	case cl.SendBuffer == SendBufferAuto:
	case cl.SendBuffer < minSendBuffer || cl.SendBuffer > maxSendBuffer:
		return fmt.Errorf("config: client.send_buffer %d is outside 16KiB to 64MiB (or \"auto\")", cl.SendBuffer)
	}
	if c.Classes == nil {
		c.Classes = map[string]ClassPolicy{}
	}
	for name, p := range c.Classes {
		if _, err := manifest.ParseKind(name); err != nil {
			return fmt.Errorf("config: classes: %q is not one of manifest, segment, init, other", name)
		}
		for _, q := range p.DropQuery {
			if isHLSDirective(q) {
				return fmt.Errorf("config: classes.%s.drop_query: %s must stay in the key (RFC 8216bis 6.2.5)", name, q)
			}
		}
		for _, v := range []time.Duration{p.TTL, p.MaxTTL, p.StaleWhileUpdating, p.RefreshWait, p.StaleIfError} {
			if v < 0 {
				return fmt.Errorf("config: classes.%s: negative duration", name)
			}
		}
	}
	for name, p := range def.Classes {
		if _, ok := c.Classes[name]; !ok {
			c.Classes[name] = p
		}
	}
	if _, err := parseTrusted(c.TrustedProxies); err != nil {
		return fmt.Errorf("config: trusted_proxies: %w", err)
	}
	if c.PrefetchConcurrency <= 0 {
		c.PrefetchConcurrency = def.PrefetchConcurrency
	}
	for code := range c.StatusTTL {
		if code < 100 || code > 599 {
			return fmt.Errorf("config: status_ttl: %d is not an HTTP status", code)
		}
	}
	return nil
}

// minHeaderBytes is the smallest request-head bound accepted: players and
// CDNs send heads of a few KiB.
const minHeaderBytes = 8 << 10

// minSendBuffer and maxSendBuffer bound client.send_buffer: below 16 KiB a
// viewer could not take a segment at a useful rate, and the kernel caps
// SO_SNDBUF at net.core.wmem_max long before 64 MiB.
const (
	minSendBuffer SendBuffer = 16 << 10
	maxSendBuffer SendBuffer = 64 << 20
)

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// isHLSDirective reports the LL-HLS delivery directives that must stay in
// the cache key: they select different playlists.
func isHLSDirective(name string) bool {
	return name == "_HLS_msn" || name == "_HLS_part" || name == "_HLS_skip"
}

// edgeOwnedHeaders are request fields the edge sets or that frame the
// message: a route can neither forward a viewer's value for them nor set
// them statically.
var edgeOwnedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Te": true, "Trailer": true, "Upgrade": true, "Proxy-Connection": true,
	"Proxy-Authorization": true, "Proxy-Authenticate": true,
	"Via": true, "X-Forwarded-For": true,
	// The edge answers ranges, conditionals and encodings from whole
	// identity bodies.
	"Range": true, "If-Range": true, "If-None-Match": true, "If-Modified-Since": true,
	"If-Match": true, "If-Unmodified-Since": true, "Accept-Encoding": true,
}

// responseOwnedHeaders frame the response or carry the cache's own
// account of it: response_headers cannot replace them.
var responseOwnedHeaders = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Trailer": true, "Upgrade": true, "Content-Range": true, "Content-Encoding": true,
	"Age": true, "X-Cache-Status": true, "Cache-Status": true, "Date": true,
}

// validOriginHost checks origin_host: empty, "$host", or a host[:port].
func validOriginHost(h string) error {
	if h == "" || h == "$host" {
		return nil
	}
	u, err := url.Parse("http://" + h)
	if err != nil || u.Host != h || u.User != nil || strings.ContainsAny(h, "/?#@ $%") {
		return fmt.Errorf("origin_host: %q is neither $host nor a host name", h)
	}
	return nil
}

// validateHeaders checks and canonicalises a route's header settings, on
// copies: the caller's map and slice are left as given.
func (r *Route) validateHeaders() error {
	if len(r.OriginHeaders) > 0 {
		oh := make(map[string]string, len(r.OriginHeaders))
		for name, v := range r.OriginHeaders {
			cn := http.CanonicalHeaderKey(name)
			if !validHeaderName(name) || edgeOwnedHeaders[cn] {
				return fmt.Errorf("origin_headers: %q cannot be set", name)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("origin_headers: %s: value holds a line break or NUL", name)
			}
			oh[cn] = v
		}
		r.OriginHeaders = oh
	}
	if len(r.ResponseHeaders) > 0 {
		rh := make(map[string]string, len(r.ResponseHeaders))
		for name, v := range r.ResponseHeaders {
			cn := http.CanonicalHeaderKey(name)
			if !validHeaderName(name) || responseOwnedHeaders[cn] {
				return fmt.Errorf("response_headers: %q cannot be set", name)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("response_headers: %s: value holds a line break or NUL", name)
			}
			rh[cn] = v
		}
		r.ResponseHeaders = rh
	}
	if err := validOriginHost(r.OriginHost); err != nil {
		return err
	}
	if len(r.ForwardHeaders) > 0 {
		fh := make([]string, 0, len(r.ForwardHeaders))
		for _, name := range r.ForwardHeaders {
			cn := http.CanonicalHeaderKey(name)
			if !validHeaderName(name) || edgeOwnedHeaders[cn] {
				return fmt.Errorf("forward_headers: %q cannot be forwarded", name)
			}
			if _, static := r.OriginHeaders[cn]; static {
				return fmt.Errorf("forward_headers: %s is also in origin_headers", cn)
			}
			fh = append(fh, cn)
		}
		slices.Sort(fh)
		r.ForwardHeaders = slices.Compact(fh)
	}
	return nil
}

// validHeaderName reports an RFC 9110 5.1 field name (a token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || strings.IndexByte("!#$%&'*+^`|", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validateOrigins checks Origin, or Origins and their mode and health.
func (r *Route) validateOrigins() error {
	urls := []string{r.Origin}
	switch {
	case len(r.Origins) > 0 && r.Origin != "":
		return fmt.Errorf("config: route %q: origin and origins both given: use one", r.Prefix)
	case len(r.Origins) > 0:
		if _, err := upstream.New(r.upstreamConfig()); err != nil {
			return fmt.Errorf("config: route %q: origins: %w", r.Prefix, err)
		}
		urls = urls[:0]
		for _, o := range r.Origins {
			urls = append(urls, o.URL)
		}
	case r.OriginsMode != "" || r.OriginsFreshest || r.OriginsHealth != (upstream.HealthConfig{}):
		return fmt.Errorf("config: route %q: origins_mode, origins_health and origins_freshest need origins", r.Prefix)
	}
	for _, o := range urls {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("config: route %q: origin %q must be an absolute http(s) URL", r.Prefix, o)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("config: route %q: origin %q must not have a query or fragment", r.Prefix, o)
		}
	}
	return nil
}

// upstreamConfig is the route's origin set as package upstream builds it.
func (r *Route) upstreamConfig() upstream.Config {
	return upstream.Config{Route: r.Name, Origins: r.Origins, Mode: r.OriginsMode, Health: r.OriginsHealth}
}
