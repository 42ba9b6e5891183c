package nginximport

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/internal/nginxconf"
	"github.com/edgecache/edgecache/proxy"
)

// Reasons for what the edge does by itself, checked against README.md's
// description of the edge.
const (
	whyLock       = "built in: concurrent misses attach to the one origin fetch and stream from its first byte (no 500 ms polling)"
	whyUseStale   = "built in: classes.CLASS.stale_while_updating serves UPDATING while one request refreshes, stale_if_error serves STALE when the origin fails (defaults: manifest 1s/10s, others 0/1m)"
	whyBackground = "built in: one request refreshes an expired entry, the others get the stale copy as UPDATING within stale_while_updating"
	whyBuffering  = "built in: bodies stream to every waiting viewer as they arrive and are stored whole in RAM"
	whyCache      = "built in: every route is cached, in RAM (cache.max_bytes)"
	whyKey        = "built in: the key is the normalised path and the sorted query (plus forward_headers values); Host is not part of it: one edge, one site"
	whyHTTP11     = "built in: origin connections are kept alive and reused (origin.max_idle_conns_per_host)"
	whySubFilter  = "built in: playlists and MPDs have their origins' absolute URLs rewritten to edge paths; there is no other body rewriting"
	whyWorkers    = "not needed: Go's scheduler spreads connections over every core; there are no worker settings"
	whyProcess    = "not needed: edgecache runs in the foreground as the user that starts it, logging to stdout"
	whySendfile   = "not needed: the cache is in RAM; a large cached body goes out corked behind its head"
	whyGzip       = "built in: playlists and MPDs are served gzip-compressed to clients that accept it; segments are not (already compressed)"
	whyTempFiles  = "not needed: no temporary files, fills are held in RAM within cache.max_inflight_bytes"
	whyRevalidate = "built in: expired entries with ETag or Last-Modified are revalidated (REVALIDATED)"
	whyMethods    = "built in: GET and HEAD are cached, HEAD from the GET entry; other methods pass through"
	whyNoBasic    = "no basic auth: routes[].auth checks signed URLs (secure_link) or Common Access Tokens"
)

// builtins maps directives the edge needs no setting for to why.
var builtins = map[string]string{
	"proxy_cache_lock": whyLock, "proxy_cache_lock_timeout": whyLock, "proxy_cache_lock_age": whyLock,
	"proxy_cache_use_stale":         whyUseStale,
	"proxy_cache_background_update": whyBackground,
	"proxy_buffering":               whyBuffering, "proxy_buffers": whyBuffering, "proxy_buffer_size": whyBuffering, "proxy_busy_buffers_size": whyBuffering,
	"proxy_max_temp_file_size": whyTempFiles, "proxy_temp_path": whyTempFiles, "proxy_temp_file_write_size": whyTempFiles,
	"proxy_cache_key":    whyKey,
	"proxy_http_version": whyHTTP11,
	"sub_filter_once":    whySubFilter, "sub_filter_types": whySubFilter, "sub_filter_last_modified": whySubFilter,
	"worker_processes": whyWorkers, "worker_connections": "client.max_conns bounds the viewer connections (by default the open-file limit less a tenth); nginx's is per worker and counts origin connections too, so it is not carried over", "worker_rlimit_nofile": whyWorkers, "worker_cpu_affinity": whyWorkers,
	"multi_accept": whyWorkers, "accept_mutex": whyWorkers, "use": whyWorkers,
	"user": whyProcess, "pid": whyProcess, "daemon": whyProcess, "master_process": whyProcess,
	"sendfile": whySendfile, "tcp_nopush": whySendfile, "tcp_nodelay": whySendfile, "aio": whySendfile, "directio": whySendfile, "output_buffers": whySendfile,
	"gzip": whyGzip, "gzip_types": whyGzip, "gzip_vary": whyGzip, "gzip_comp_level": whyGzip, "gzip_min_length": whyGzip, "gzip_proxied": whyGzip, "gzip_disable": whyGzip, "gzip_http_version": whyGzip, "gzip_buffers": whyGzip,
	"proxy_cache_revalidate":    whyRevalidate,
	"proxy_cache_methods":       whyMethods,
	"proxy_cache_convert_head":  whyMethods,
	"default_type":              "not needed: proxied responses keep the origin's Content-Type",
	"proxy_ssl_server_name":     "built in: TLS to the origin sends the origin's host name (SNI)",
	"resolver":                  "not needed: origin names are resolved with the system resolver",
	"resolver_timeout":          "not needed: origin names are resolved with the system resolver",
	"server_tokens":             "not needed: the edge names itself only in Via (server_name)",
	"reset_timedout_connection": "built in: a client that accepts nothing for client.write_idle_timeout is dropped",
	"proxy_ignore_client_abort": "built in: a fill keeps going for the other viewers when one hangs up, and is cancelled only by its own timeouts",
	"log_format":                "", // read where access_log names it
}

// untranslatables maps directives with no equivalent to why.
var untranslatables = map[string]string{
	"return": "the edge only proxies: no fixed responses", "rewrite": "no URL rewriting: a route maps a prefix to an origin URL",
	"root": "the edge only proxies: no files", "alias": "the edge only proxies: no files", "try_files": "the edge only proxies: no files",
	"index": "the edge only proxies: no files", "autoindex": "the edge only proxies: no files", "error_page": "no custom error pages",
	"limit_req": "no rate limiting", "limit_req_zone": "no rate limiting", "limit_conn": "no connection limits per client", "limit_conn_zone": "no connection limits per client", "limit_rate": "no rate limiting",
	"allow": "no access lists", "deny": "no access lists", "auth_basic": whyNoBasic, "auth_basic_user_file": whyNoBasic, "auth_request": "no subrequest auth: routes[].auth checks signed URLs (secure_link) or Common Access Tokens at the edge",
	"ssl_certificate": "TLS: terminate TLS in front of the edge (ingress, load balancer)", "ssl_certificate_key": "TLS: terminate TLS in front of the edge (ingress, load balancer)",
	"ssl_protocols": "TLS: terminate TLS in front of the edge", "ssl_ciphers": "TLS: terminate TLS in front of the edge", "ssl_session_cache": "TLS: terminate TLS in front of the edge", "ssl_session_timeout": "TLS: terminate TLS in front of the edge", "http2": "HTTP/2 needs TLS: terminate it in front of the edge",
	"proxy_cache_min_uses": "every cacheable response is stored on its first use", "proxy_cache_bypass": "no conditional bypass", "proxy_no_cache": "no conditional no-store",
	"proxy_next_upstream":       "the conditions are fixed: a fill moves to the next origin on a refused connection, a timeout or a 5xx before any byte went to the viewer (for media a 404 too); a request passed through, only while it is safe to send again (docs/fleet.md)",
	"proxy_next_upstream_tries": "every origin of a route is tried at most once per request", "proxy_next_upstream_timeout": "origin.first_byte_timeout bounds each try",
	"proxy_hide_header": "no equivalent: the origin's response headers pass through (hop-by-hop ones excepted)", "proxy_pass_header": "no equivalent",
	"proxy_redirect": "no Location rewriting outside playlists and MPDs", "expires": "no equivalent: set Cache-Control at the origin, or response_headers for a fixed value",
	"client_body_buffer_size": "no equivalent: a request body is read whole into memory (client.body_buffer_bytes bounds all of them at once), never to a file",
	"stub_status":             "the admin listener serves /metrics (Prometheus) instead", "set": "variables have no equivalent", "charset": "no equivalent",
	"proxy_cache_purge": "purge is on the admin listener, with purge_token",
}

// directive translates one non-block directive given at a level of the
// config (http, server or location), other than the lists a route
// inherits.
func (t *translator) directive(d *nginxconf.Directive, sc *scope, ctx context) {
	if why, ok := builtins[d.Name]; ok {
		if why != "" {
			t.builtin(d, why)
		}
		return
	}
	if why, ok := untranslatables[d.Name]; ok {
		t.untranslatable(d, "%s", why)
		return
	}
	switch d.Name {
	case "listen":
		t.listenDirective(d, ctx)
	case "server_name":
		t.builtin(d, "not needed: the edge answers every Host the same way (routes are by path)")
	case "proxy_pass":
		if ctx != ctxLocation {
			t.untranslatable(d, "proxy_pass outside a location")
		}
	case "proxy_cache":
		if arg(d, 0) == "off" {
			t.untranslatable(d, "caching cannot be turned off for a route (other methods and objects over cache.max_object_bytes pass through)")
		} else {
			t.builtin(d, whyCache)
		}
	case "proxy_cache_path":
		t.cachePath(d)
	case "proxy_ignore_headers":
		t.ignoreHeaders(d)
	case "proxy_connect_timeout":
		t.timeout(d, &t.originConn, "origin.connect_timeout")
	case "proxy_read_timeout", "proxy_send_timeout":
		// One setting bounds both: an origin quiet while the edge reads
		// its answer or writes it a body passed through.
		t.timeout(d, &t.originIdle, "origin.idle_timeout")
	case "client_header_timeout":
		t.timeout(d, &t.clientHeader, "client.read_header_timeout")
	case "send_timeout":
		t.timeout(d, &t.clientWrite, "client.write_idle_timeout")
	case "client_body_timeout":
		t.timeout(d, &t.clientBodyTime, "client.body_timeout")
	case "client_max_body_size":
		if _, err := proxy.ParseByteSize(arg(d, 0)); err != nil || len(d.Args) != 1 {
			t.untranslatable(d, "bad size")
		} else {
			t.set(d, &t.clientMaxBody, arg(d, 0), "client.max_body_bytes")
		}
	case "proxy_request_buffering":
		if v := arg(d, 0); len(d.Args) == 1 && (v == "on" || v == "off") {
			t.set(d, &t.requestBuffering, v, "client.stream_bodies")
		} else {
			t.untranslatable(d, "not on or off")
		}
	case "keepalive_timeout":
		if v, dd, ok := dur(arg(d, 0)); ok && dd == 0 {
			t.untranslatable(d, "keep-alive cannot be turned off; client.idle_timeout keeps its default")
		} else if ok {
			t.set(d, &t.clientIdle, v, "client.idle_timeout")
		} else {
			t.untranslatable(d, "bad time %q", arg(d, 0))
		}
	case "large_client_header_buffers":
		t.headerBuffers(d)
	case "set_real_ip_from":
		t.realIPFrom(d)
	case "real_ip_header":
		if strings.EqualFold(arg(d, 0), "X-Forwarded-For") {
			t.realIPHeader = d
		} else {
			t.untranslatable(d, "only X-Forwarded-For is read for the client address (from trusted_proxies)")
		}
	case "real_ip_recursive":
		t.builtin(d, "built in: X-Forwarded-For is walked right to left past every trusted proxy")
	case "access_log":
		t.accessLogDirective(d)
	case "error_log":
		t.errorLog(d)
	case "keepalive":
		t.untranslatable(d, "keepalive outside an upstream block")
	default:
		t.untranslatable(d, "no edgecache equivalent")
	}
}

// set keeps the first value of a setting that is global in edgecache and
// reports a later, different one.
func (t *translator) set(d *nginxconf.Directive, s **setting, value, field string) {
	if *s == nil {
		*s = &setting{value: value, where: d.Where(), note: d.String()}
		return
	}
	if (*s).value != value {
		t.untranslatable(d, "%s is one setting for the whole edge: the value from %s (%s) is kept", field, (*s).where, (*s).value)
	}
}

func (t *translator) timeout(d *nginxconf.Directive, s **setting, field string) {
	v, _, ok := dur(arg(d, 0))
	if !ok || len(d.Args) != 1 {
		t.untranslatable(d, "bad time")
		return
	}
	t.set(d, s, v, field)
}

func (t *translator) listenDirective(d *nginxconf.Directive, ctx context) {
	if ctx != ctxServer {
		t.untranslatable(d, "listen outside a server block")
		return
	}
	var sndbuf string // only a listener that is kept carries it over
	for _, p := range d.Args[min(1, len(d.Args)):] {
		switch {
		case p == "ssl" || p == "http2" || p == "quic" || p == "http3":
			t.untranslatable(d, "TLS and HTTP/2: terminate TLS in front of the edge (ingress, load balancer); the edge listens for plain HTTP/1.1")
			return
		case p == "proxy_protocol":
			t.untranslatable(d, "the PROXY protocol is not read: use trusted_proxies and X-Forwarded-For")
			return
		case strings.HasPrefix(p, "sndbuf="):
			sndbuf = strings.TrimPrefix(p, "sndbuf=")
		}
	}
	addr, ok := listenAddr(arg(d, 0))
	if !ok {
		t.untranslatable(d, "not a TCP address")
		return
	}
	if t.listen == nil {
		t.listen = &setting{value: addr, where: d.Where(), note: fmt.Sprintf("%s (%s)", d.String(), d.Where())}
		if _, port, _ := net.SplitHostPort(addr); port != "" {
			if n, _ := strconv.Atoi(port); n > 0 && n < 1024 {
				t.listen.note += ": a port below 1024 needs root or CAP_NET_BIND_SERVICE; edgecache's default is :8081"
			}
		}
		t.sendBuffer(d, sndbuf)
		return
	}
	if t.listen.value == addr {
		t.sendBuffer(d, sndbuf)
		return
	}
	// listen 80; listen [::]:80; is one Go listener on ":80".
	_, p1, _ := net.SplitHostPort(t.listen.value)
	h2, p2, _ := net.SplitHostPort(addr)
	if strings.HasPrefix(t.listen.value, ":") && p1 == p2 && (h2 == "::" || h2 == "" || h2 == "0.0.0.0") {
		t.listenExtra = append(t.listenExtra, fmt.Sprintf("%s (%s) is covered: %s listens on IPv4 and IPv6", d.String(), d.Where(), t.listen.value))
		t.sendBuffer(d, sndbuf)
		return
	}
	t.untranslatable(d, "the edge listens on one address: %s (%s) is kept", t.listen.value, t.listen.where)
}

// sendBuffer carries a kept listener's sndbuf= (v, empty when none) to
// client.send_buffer; the first one given wins.
func (t *translator) sendBuffer(d *nginxconf.Directive, v string) {
	if v == "" || t.clientSndbuf != nil {
		return
	}
	if _, err := proxy.ParseByteSize(v); err != nil {
		t.untranslatable(d, "sndbuf=%s: %v", v, err)
		return
	}
	t.clientSndbuf = &setting{value: v, where: d.Where(), note: d.String()}
}

// cachePath: max_size is the RAM budget; the rest describes a disk zone.
func (t *translator) cachePath(d *nginxconf.Directive) {
	if t.cacheMax != nil {
		t.untranslatable(d, "one cache: the budget from %s is kept (edgecache has one RAM cache for every route)", t.cacheMax.where)
		return
	}
	var size string
	var rest []string
	for _, a := range d.Args[min(1, len(d.Args)):] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "max_size":
			size = v
		case "keys_zone", "levels", "inactive", "use_temp_path", "min_free", "loader_files", "loader_sleep", "loader_threshold", "manager_files", "manager_sleep", "manager_threshold", "purger":
			rest = append(rest, k)
		default:
			t.untranslatable(d, "parameter %s: no equivalent", k)
		}
	}
	note := fmt.Sprintf("proxy_cache_path (%s)", d.Where())
	if size == "" {
		t.cacheNotes = append(t.cacheNotes, note+" has no max_size: the default budget, 512MiB of RAM, applies")
	} else if _, err := proxy.ParseByteSize(size); err != nil {
		t.untranslatable(d, "max_size=%s is not a size", size)
		return
	} else {
		t.cacheMax = &setting{value: size, where: d.Where(), note: note + " max_size=" + size}
	}
	if len(rest) > 0 {
		t.cacheNotes = append(t.cacheNotes, strings.Join(rest, ", ")+": not needed, the cache is in RAM (no disk path, key zone or directory levels); entries leave when they expire or the budget needs the room")
	}
}

// cacheValidList translates the proxy_cache_valid list a route has (its
// own or inherited whole). TTLs are one setting for the edge, so the first
// route's list is taken, and a route with another list has its
// directives reported.
func (t *translator) cacheValidList(ds []*nginxconf.Directive) {
	if len(ds) == 0 {
		return
	}
	var sig []string
	for _, d := range ds {
		sig = append(sig, d.String())
	}
	set := strings.Join(sig, "\n")
	if t.validFrom != nil {
		if set != t.validSet {
			for _, d := range ds {
				t.untranslatable(d, "TTLs are one setting for the whole edge: the proxy_cache_valid list at %s is kept", t.validFrom.Where())
			}
		}
		return
	}
	t.validFrom, t.validSet = ds[0], set
	for _, d := range ds {
		t.cacheValid(d)
	}
}

// cacheValid: proxy_cache_valid [code ...|any] time. 200 goes to the
// classes' ttl, other codes to status_ttl, errors capped for live streams.
func (t *translator) cacheValid(d *nginxconf.Directive) {
	if len(d.Args) == 0 {
		t.untranslatable(d, "no time")
		return
	}
	v, dd, ok := dur(d.Args[len(d.Args)-1])
	if !ok {
		t.untranslatable(d, "bad time %q", d.Args[len(d.Args)-1])
		return
	}
	codes := d.Args[:len(d.Args)-1]
	if len(codes) == 0 {
		codes = []string{"200", "301", "302"} // nginx's default list
	}
	for _, c := range codes {
		if c == "any" {
			if t.ttl200 == nil {
				t.ttl200 = &setting{value: v, where: d.Where(), note: d.String()}
			}
			for _, code := range []int{301, 302, 404} {
				t.addStatusTTL(d, code, dd, v, "any")
			}
			t.statusNotes = append(t.statusNotes, fmt.Sprintf("%s (%s): any became 200, 301, 302 and 404 (codes listed before it keep their own time); 5xx are not cached: stale_if_error serves the last good copy instead.", d.String(), d.Where()))
			continue
		}
		code, err := strconv.Atoi(c)
		if err != nil || code < 100 || code > 599 {
			t.untranslatable(d, "%q is not a status code", c)
			continue
		}
		if code == 200 {
			if t.ttl200 == nil || t.ttl200.note != d.String() && strings.Contains(t.ttl200.note, "any") {
				t.ttl200 = &setting{value: v, where: d.Where(), note: d.String()}
			}
			continue
		}
		t.addStatusTTL(d, code, dd, v, c)
	}
}

// liveErrorCap is the longest an error status is cached for: a 404 cached
// for a minute at stream start left a live stream unreachable for a minute
// (issue 14).
const liveErrorCap = "2s"

func (t *translator) addStatusTTL(d *nginxconf.Directive, code int, dd interface{ Seconds() float64 }, v, as string) {
	for _, s := range t.statusTTLs {
		if s.code == code {
			return // nginx takes the first match
		}
	}
	note := fmt.Sprintf("%s (%s)", d.String(), d.Where())
	if code >= 400 && dd.Seconds() > 2 {
		note = fmt.Sprintf("%s: capped from %s to %s. A live stream's playlists and segments 404 for a moment at its start and at every new segment a player asks for early; cached for %s, that 404 keeps the stream unreachable that long. The edge also caps 404s of playlists and segments to one target duration.", note, v, liveErrorCap, v)
		v = liveErrorCap
	}
	t.statusTTLs = append(t.statusTTLs, statusTTL{code: code, setting: setting{value: v, where: d.Where(), note: note}})
}

func (t *translator) ignoreHeaders(d *nginxconf.Directive) {
	for _, a := range d.Args {
		switch strings.ToLower(a) {
		case "cache-control", "expires", "x-accel-expires":
			if t.override == nil {
				t.override = &setting{value: "true", where: d.Where(), note: d.String()}
			}
		case "set-cookie", "vary":
			t.untranslatable(d, "%s cannot be ignored: responses with it are never shared", a)
		default:
			t.untranslatable(d, "%s: no equivalent", a)
		}
	}
}

func (t *translator) headerBuffers(d *nginxconf.Directive) {
	n, err := strconv.Atoi(arg(d, 0))
	size, err2 := proxy.ParseByteSize(arg(d, 1))
	if err != nil || err2 != nil || n <= 0 || len(d.Args) != 2 {
		t.untranslatable(d, "bad number or size")
		return
	}
	total := int64(n) * size
	v := strconv.FormatInt(total, 10)
	if total%1024 == 0 {
		v = strconv.FormatInt(total/1024, 10) + "k"
	}
	if total < 8<<10 {
		v = "8k" // the edge's floor: players and CDNs send heads of a few KiB
	}
	t.set(d, &t.clientMaxHdr, v, "client.max_header_bytes")
}

func (t *translator) realIPFrom(d *nginxconf.Directive) {
	a := arg(d, 0)
	if a == "unix:" {
		t.untranslatable(d, "unix sockets: the edge listens on TCP")
		return
	}
	if !strings.Contains(a, "/") {
		if ip, err := netip.ParseAddr(a); err == nil {
			a = netip.PrefixFrom(ip, ip.BitLen()).String()
		}
	}
	if _, err := netip.ParsePrefix(a); err != nil {
		t.untranslatable(d, "not an address or CIDR")
		return
	}
	if t.trustedWhere == "" {
		t.trustedWhere = d.Where()
	}
	if !slices.Contains(t.trusted, a) {
		t.trusted = append(t.trusted, a)
	}
}

func (t *translator) accessLogDirective(d *nginxconf.Directive) {
	if t.accessLog != nil {
		t.untranslatable(d, "one access log: the one at %s is kept", t.accessLog.where)
		return
	}
	path := arg(d, 0)
	switch path {
	case "off":
	case "/dev/stdout":
		path = "stdout"
	case "/dev/stderr":
		path = "stderr"
	}
	if strings.HasPrefix(path, "syslog:") {
		t.untranslatable(d, "no syslog: the log goes to stdout, stderr or a file")
		return
	}
	format := "combined" // nginx's default
	for i, a := range d.Args[min(1, len(d.Args)):] {
		k, _, isParam := strings.Cut(a, "=")
		switch {
		case i == 0 && !isParam:
			format = a
		case k == "buffer":
			// nginx's buffer is bytes held before a write; access_log.buffer
			// is a number of records waiting for the writer: not the same
			// quantity, so it is not carried over.
			t.accessNotes = append(t.accessNotes, fmt.Sprintf("%s: not carried over: nginx's buffer is bytes, access_log.buffer counts records (default %d); the log is written off the request path, and what a full buffer drops is counted", a, accesslog.DefaultBuffer))
		case k == "flush":
			t.accessNotes = append(t.accessNotes, fmt.Sprintf("%s: not needed: lines are written as soon as the writer takes them", a))
		case k == "gzip":
			t.untranslatable(d, "no compressed log")
		case k == "if":
			t.untranslatable(d, "no conditional logging: every response is logged")
		default:
			t.untranslatable(d, "parameter %s: no equivalent", a)
		}
	}
	t.accessLog = &setting{value: path, where: d.Where(), note: d.String()}
	if path == "off" {
		return
	}
	switch format {
	case "combined":
		t.accessFormat = "combined"
	default:
		lf, ok := t.logFormats[format]
		if !ok {
			t.untranslatable(d, "log_format %s not found: the edge's default format (combined plus cache status and timings) is used", format)
			return
		}
		// log_format name [escape=default|json|none] string ...: the
		// access log reads the escape= prefix itself, before a space.
		args := lf.Args[1:]
		var prefix string
		if len(args) > 0 && strings.HasPrefix(args[0], "escape=") {
			prefix, args = args[0]+" ", args[1:]
		}
		f := prefix + strings.Join(args, "")
		// What the importer writes must start: the access log compiles
		// the format at start-up and refuses a variable it does not know.
		if err := (accesslog.Config{Path: path, Format: f}).Validate(); err != nil {
			t.untranslatable(lf, "%v: the access log uses its default format (combined plus cache status and timings) instead", err)
			t.accessNotes = append(t.accessNotes, fmt.Sprintf("log_format %s (%s) was not translated (%v): the default format is used (see stderr)", format, lf.Where(), err))
			return
		}
		t.accessFormat = f
		t.accessNotes = append(t.accessNotes, fmt.Sprintf("format: log_format %s (%s)", format, lf.Where()))
	}
}

func (t *translator) errorLog(d *nginxconf.Directive) {
	level := map[string]string{"debug": "debug", "info": "info", "notice": "info", "warn": "warn", "error": "error", "crit": "error", "alert": "error", "emerg": "error"}
	if len(d.Args) < 2 {
		t.builtin(d, "not needed: the edge logs to stdout (log_level, log_format)")
		return
	}
	l, ok := level[d.Args[1]]
	if !ok {
		t.untranslatable(d, "level %s not known", d.Args[1])
		return
	}
	t.set(d, &t.logLevel, l, "log_level")
}

// routeHeaders translates the add_header and proxy_set_header lists a
// location has (its own or inherited whole, as nginx does).
func (t *translator) routeHeaders(r *route, sc *scope) {
	for _, d := range sc.effective("add_header") {
		t.addHeader(r, d)
	}
	for _, d := range sc.effective("proxy_set_header") {
		t.setHeader(r, d)
	}
	for _, d := range sc.preflight {
		t.addHeader(r, d)
	}
	t.checkCORS(r)
}

func (t *translator) addHeader(r *route, d *nginxconf.Directive) {
	if len(d.Args) < 2 || len(d.Args) > 3 || len(d.Args) == 3 && d.Args[2] != "always" {
		t.untranslatable(d, "add_header takes a name, a value and optionally always")
		return
	}
	name, value := d.Args[0], d.Args[1]
	cn := http.CanonicalHeaderKey(name)
	if cn == "X-Cache-Status" && value == "$upstream_cache_status" {
		r.respNotes = append(r.respNotes, fmt.Sprintf("%s (%s): built in, every response carries X-Cache-Status with nginx's values", d.String(), d.Where()))
		return
	}
	if strings.HasPrefix(cn, "Access-Control-") {
		t.corsHeader(r, d, cn, value)
		return
	}
	if strings.Contains(value, "$") {
		t.untranslatable(d, "variables in header values have no equivalent (only X-Cache-Status $upstream_cache_status is built in)")
		return
	}
	if err := routeOK(proxy.Route{ResponseHeaders: map[string]string{name: value}}); err != nil {
		t.untranslatable(d, "%v", err)
		return
	}
	r.respHeaders = append(r.respHeaders, kv{cn, value})
	if len(d.Args) == 2 {
		r.respNotes = append(r.respNotes, fmt.Sprintf("%s (%s): without always nginx set it on 2xx and 3xx only; response_headers sets it on every response", d.String(), d.Where()))
	}
}

func (t *translator) corsHeader(r *route, d *nginxconf.Directive, cn, value string) {
	if strings.Contains(value, "$") {
		t.untranslatable(d, "variables in CORS headers: list the allowed origins in cors.allow_origins (\"*\" for any)")
		return
	}
	if r.cors == nil {
		r.cors = &cors{}
	}
	c := r.cors
	list := func() []string {
		var out []string
		for _, p := range strings.Split(value, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	add := func(to []string) []string {
		for _, v := range list() {
			if !slices.Contains(to, v) {
				to = append(to, v)
			}
		}
		return to
	}
	switch cn {
	case "Access-Control-Allow-Origin":
		c.origins = add(c.origins)
	case "Access-Control-Allow-Methods":
		c.methods = add(c.methods)
	case "Access-Control-Allow-Headers":
		c.headers = add(c.headers)
	case "Access-Control-Expose-Headers":
		c.expose = add(c.expose)
	case "Access-Control-Max-Age":
		v, _, ok := dur(value)
		if !ok {
			t.untranslatable(d, "not a number of seconds")
			return
		}
		c.maxAge = v
	case "Access-Control-Allow-Credentials":
		c.credentials = strings.EqualFold(value, "true")
	default:
		t.untranslatable(d, "not a CORS response header")
		return
	}
	c.notes = append(c.notes, fmt.Sprintf("%s (%s)", d.String(), d.Where()))
	c.from = append(c.from, d)
}

// checkCORS drops a route's CORS settings the edge would refuse, listing
// the directives they came from with the reason.
func (t *translator) checkCORS(r *route) {
	c := r.cors
	if c == nil {
		return
	}
	pc := proxy.CORSConfig{AllowOrigins: c.origins, AllowMethods: c.methods, AllowHeaders: c.headers, ExposeHeaders: c.expose, AllowCredentials: c.credentials}
	if c.maxAge != "" {
		_, pc.MaxAge, _ = dur(c.maxAge)
	}
	if err := routeOK(proxy.Route{CORS: pc}); err != nil {
		for _, d := range c.from {
			t.untranslatable(d, "%v", err)
		}
		r.cors = nil
	}
}

func (t *translator) setHeader(r *route, d *nginxconf.Directive) {
	if len(d.Args) != 2 {
		t.untranslatable(d, "proxy_set_header takes a name and a value")
		return
	}
	name, value := d.Args[0], d.Args[1]
	cn := http.CanonicalHeaderKey(name)
	switch {
	case cn == "Host":
		switch {
		case value == "$host" || value == "$http_host":
			r.originHost = "$host"
			r.originHostNote = fmt.Sprintf("%s (%s): the origin gets the viewer's Host. The Host then joins the cache key (one viewer's Host never picks another's response) and the route is not prefetched: if the origin serves the same whatever the Host, as packagers do, delete this line.", d.String(), d.Where())
		case value == "$proxy_host":
			r.comments = append(r.comments, fmt.Sprintf("%s (%s): the default, the origin URL's host", d.String(), d.Where()))
		case strings.Contains(value, "$"):
			t.untranslatable(d, "origin_host is the viewer's Host ($host), a fixed name, or the origin URL's host")
		default:
			if err := routeOK(proxy.Route{OriginHost: value}); err != nil {
				t.untranslatable(d, "%v", err)
				return
			}
			r.originHost = value
			r.originHostNote = fmt.Sprintf("%s (%s)", d.String(), d.Where())
		}
	case cn == "X-Forwarded-For" && value == "$proxy_add_x_forwarded_for":
		t.builtin(d, "built in: the edge appends the client address to X-Forwarded-For")
	case cn == "Connection":
		t.builtin(d, whyHTTP11)
	case value == "":
		t.builtin(d, "built in: shared fills send the origin an allow-list of request headers (User-Agent, forward_headers, origin_headers), not the viewer's request")
	case value == "$http_"+strings.ReplaceAll(strings.ToLower(name), "-", "_"):
		if edgeOwned(cn) {
			t.untranslatable(d, "the edge sets %s itself", cn)
			return
		}
		r.forwardHeaders = append(r.forwardHeaders, cn)
		r.comments = append(r.comments, fmt.Sprintf("%s (%s): forward_headers; its value becomes part of the cache key", d.String(), d.Where()))
	case strings.Contains(value, "$"):
		t.untranslatable(d, "variables have no equivalent: origin_headers are fixed values, forward_headers pass the viewer's own header ($http_NAME)")
	case edgeOwned(cn) || !validToken(name) || strings.ContainsAny(value, "\r\n\x00"):
		t.untranslatable(d, "the edge sets %s itself", cn)
	default:
		r.originHeaders = append(r.originHeaders, kv{cn, value})
	}
}

// edgeOwned asks proxy's own validation whether a route may set the field.
func edgeOwned(cn string) bool {
	return routeOK(proxy.Route{OriginHeaders: map[string]string{cn: "x"}}) != nil
}

// routeOK is proxy's own validation of a route's settings: what the
// importer writes must load.
func routeOK(r proxy.Route) error {
	r.Prefix, r.Origin = "/", "http://o/"
	if err := (&proxy.Config{Routes: []proxy.Route{r}}).Validate(); err != nil {
		_, msg, _ := strings.Cut(err.Error(), `route "/": `)
		return errors.New(msg)
	}
	return nil
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// subFilters: a sub_filter that rewrites the origin's URL is what the edge
// does to playlists by itself; any other has no equivalent.
func (t *translator) subFilters(r *route, sc *scope) {
	for _, d := range sc.effective("sub_filter") {
		from := strings.ToLower(arg(d, 0))
		o := strings.ToLower(r.origin)
		if len(d.Args) == 2 && from != "" && (strings.HasPrefix(o, from) || strings.HasPrefix(from, hostPart(o))) {
			r.comments = append(r.comments, fmt.Sprintf("%s (%s): %s", d.String(), d.Where(), whySubFilter))
			continue
		}
		t.untranslatable(d, "body rewriting: the edge rewrites only its origins' absolute URLs in playlists and MPDs")
	}
}

// hostPart is "scheme://host" of a URL.
func hostPart(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	j := strings.IndexByte(u[i+3:], '/')
	if j < 0 {
		return u
	}
	return u[:i+3+j]
}
