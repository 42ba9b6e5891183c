package nginximport

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgecache/edgecache/internal/edgeconfig"
	"github.com/edgecache/edgecache/internal/nginxconf"
	"github.com/edgecache/edgecache/proxy"
	"github.com/edgecache/edgecache/upstream"
)

type context int

const (
	ctxMain context = iota
	ctxHTTP
	ctxServer
	ctxLocation
)

// scope is one level of nginx's configuration (http, server, location),
// with the directives given at that level, by name, for the ones a
// location inherits as a whole list (add_header, proxy_set_header,
// sub_filter): nginx takes an inner level's list whole when it has one,
// else the outer level's.
type scope struct {
	parent    *scope
	lists     map[string][]*nginxconf.Directive
	preflight []*nginxconf.Directive // Access-Control-* add_headers of an if ($request_method = OPTIONS) block
	secureIfs []secureLinkIf         // nginx's if ($secure_link ...) { return 403|410; } checks
}

func (s *scope) add(d *nginxconf.Directive) {
	if s.lists == nil {
		s.lists = map[string][]*nginxconf.Directive{}
	}
	s.lists[d.Name] = append(s.lists[d.Name], d)
}

// effective is the list a location gets: its own, else the nearest outer one.
func (s *scope) effective(name string) []*nginxconf.Directive {
	for ; s != nil; s = s.parent {
		if l, ok := s.lists[name]; ok {
			return l
		}
	}
	return nil
}

// inherited lists: kept per scope, translated per route.
// secure_link, secure_link_md5 and secure_link_secret are single values,
// each inherited on its own: the last of the nearest level's list is it.
var inherited = map[string]bool{"add_header": true, "proxy_set_header": true, "sub_filter": true, "proxy_cache_valid": true,
	"secure_link": true, "secure_link_md5": true, "secure_link_secret": true}

type untranslated struct {
	Untranslated
	seq int
}

type kv struct{ k, v string }

// route is one location translated.
type route struct {
	prefix, origin string
	// members replaces origin for an upstream of several servers.
	members        *members
	comments       []string // above the route
	originHost     string
	originHostNote string
	originHeaders  []kv
	forwardHeaders []string
	respHeaders    []kv
	respNotes      []string
	cors           *cors
	auth           *routeAuth
}

type cors struct {
	origins, methods, headers, expose []string
	maxAge                            string
	credentials                       bool
	notes                             []string
	from                              []*nginxconf.Directive
}

// setting is one translated value with where it came from.
type setting struct {
	value string
	where string
	note  string
}

type statusTTL struct {
	code int
	setting
}

type translator struct {
	seq          map[*nginxconf.Directive]int
	untranslated []untranslated
	reported     map[string]bool
	dropped      map[*nginxconf.Directive]bool // listed as untranslated

	upstreams  map[string]*nginxconf.Directive
	logFormats map[string]*nginxconf.Directive
	servers    int

	listen       *setting
	listenExtra  []string
	routes       []*route
	prefixes     map[string]string // prefix -> where
	cacheMax     *setting
	cacheNotes   []string
	ttl200       *setting
	validFrom    *nginxconf.Directive // the first proxy_cache_valid list taken
	validSet     string               // that list, to spot routes with another
	statusTTLs   []statusTTL
	statusNotes  []string
	override     *setting
	originConn   *setting
	originIdle   *setting
	maxIdleConns *setting
	clientHeader *setting
	clientIdle   *setting
	clientWrite  *setting
	clientSndbuf *setting
	clientMaxHdr *setting
	// clientMaxBody and clientBodyTime: the request body's limits;
	// requestBuffering: proxy_request_buffering's on or off.
	clientMaxBody, clientBodyTime, requestBuffering *setting
	logLevel                                        *setting
	accessLog                                       *setting // path
	accessFormat                                    string
	accessNotes                                     []string
	trusted                                         []string
	trustedWhere                                    string
	realIPHeader                                    *nginxconf.Directive
	builtIn                                         []string // comments: "what nginx needed that the edge does itself"
	builtInSeen                                     map[string]bool
}

func newTranslator() *translator {
	return &translator{
		seq:         map[*nginxconf.Directive]int{},
		reported:    map[string]bool{},
		dropped:     map[*nginxconf.Directive]bool{},
		upstreams:   map[string]*nginxconf.Directive{},
		logFormats:  map[string]*nginxconf.Directive{},
		prefixes:    map[string]string{},
		builtInSeen: map[string]bool{},
	}
}

// prepass numbers the directives in reading order and finds what others
// refer to by name: upstream blocks and log_format.
func (t *translator) prepass(ds []*nginxconf.Directive) {
	var rec func([]*nginxconf.Directive)
	rec = func(ds []*nginxconf.Directive) {
		for _, d := range ds {
			t.seq[d] = len(t.seq)
			switch d.Name {
			case "upstream":
				if len(d.Args) == 1 {
					if _, dup := t.upstreams[d.Args[0]]; !dup {
						t.upstreams[d.Args[0]] = d
					}
				}
			case "log_format":
				if len(d.Args) >= 2 {
					if _, dup := t.logFormats[d.Args[0]]; !dup {
						t.logFormats[d.Args[0]] = d
					}
				}
			}
			rec(d.Block)
		}
	}
	rec(ds)
}

// untranslatable lists d on stderr, once.
func (t *translator) untranslatable(d *nginxconf.Directive, reason string, args ...any) {
	if len(args) > 0 {
		reason = fmt.Sprintf(reason, args...)
	}
	t.dropped[d] = true
	key := d.Where() + "\x00" + d.String() + "\x00" + reason
	if t.reported[key] {
		return
	}
	t.reported[key] = true
	t.untranslated = append(t.untranslated, untranslated{Untranslated{Where: d.Where(), Directive: d.String(), Reason: reason}, t.seq[d]})
}

// builtin notes, once per directive name, that the edge does what d asked
// for by itself.
func (t *translator) builtin(d *nginxconf.Directive, why string) {
	if t.builtInSeen[d.Name] {
		return
	}
	t.builtInSeen[d.Name] = true
	t.builtIn = append(t.builtIn, fmt.Sprintf("%s (%s): %s", d.String(), d.Where(), why))
}

// block translates the directives of one level. The level's own
// directives come first, its blocks after: in nginx a directive after a
// location still applies to it.
func (t *translator) block(ds []*nginxconf.Directive, sc *scope, ctx context) {
	var blocks []*nginxconf.Directive
	for _, d := range ds {
		if !validUTF8(d) {
			t.untranslatable(d, "not UTF-8")
			continue
		}
		if d.HasBlock {
			blocks = append(blocks, d)
			continue
		}
		if inherited[d.Name] {
			sc.add(d) // translated with each route that inherits it
			continue
		}
		t.directive(d, sc, ctx)
	}
	for _, d := range blocks {
		switch {
		case d.Name == "http" && ctx == ctxMain:
			t.block(d.Block, &scope{parent: sc}, ctxHTTP)
		case d.Name == "server" && (ctx == ctxMain || ctx == ctxHTTP):
			t.servers++
			if t.servers == 2 {
				t.untranslatable(d, "several server blocks: the edge is one server; their locations are merged, the first listen is kept")
			}
			t.block(d.Block, &scope{parent: sc}, ctxServer)
		case d.Name == "location" && (ctx == ctxServer || ctx == ctxLocation):
			t.location(d, sc)
		case d.Name == "upstream" && (ctx == ctxMain || ctx == ctxHTTP):
			t.upstreamBlock(d)
		case d.Name == "events" && ctx == ctxMain:
			t.builtin(d, "Go's scheduler spreads connections over every core; there are no worker settings")
		case d.Name == "types" && ctx != ctxLocation:
			t.builtin(d, "proxied responses keep the origin's Content-Type (in nginx too: types apply to files nginx serves)")
		case d.Name == "if" && ctx == ctxLocation && isPreflight(d):
			// The CORS recipe: preflights answered in an if block. The
			// edge answers them itself; their Access-Control-* headers
			// join the route's cors.
			for _, c := range d.Block {
				switch {
				case c.Name == "add_header" && strings.HasPrefix(http.CanonicalHeaderKey(arg(c, 0)), "Access-Control-"):
					sc.preflight = append(sc.preflight, c)
				case c.Name == "add_header" || c.Name == "return":
					// Content-Type, Content-Length 0 and the 204 of a preflight.
				default:
					t.untranslatable(c, "inside the preflight if block: no equivalent")
				}
			}
			t.builtin(d, "built in: the edge answers CORS preflights (OPTIONS with Access-Control-Request-Method) itself, from routes[].cors, and never sends them to the origin")
		case d.Name == "if" && (ctx == ctxLocation || ctx == ctxServer) && secureLinkCheck(d) != "":
			// nginx's secure_link recipe: checked with each route's auth.
			sc.secureIfs = append(sc.secureIfs, secureLinkIf{d: d, status: secureLinkCheck(d)})
		case d.Name == "if":
			t.untranslatable(d, "conditionals have no equivalent (CORS preflights are answered by the edge: see routes[].cors)")
		case d.Name == "map" || d.Name == "geo" || d.Name == "split_clients":
			t.untranslatable(d, "variables have no equivalent in edgecache's config")
		case d.Name == "stream" || d.Name == "mail" || d.Name == "rtmp":
			t.untranslatable(d, "not HTTP: edgecache is an HTTP edge (the packager takes RTMP in)")
		default:
			t.untranslatable(d, "block not understood here")
		}
	}
}

// location translates one location block into a route (and its nested
// locations into routes of their own).
func (t *translator) location(d *nginxconf.Directive, parent *scope) {
	var prefix string
	var notes []string
	switch {
	case len(d.Args) == 1 && strings.HasPrefix(d.Args[0], "@"):
		t.untranslatable(d, "named locations have no equivalent (no try_files or error_page redirection in edgecache)")
		return
	case len(d.Args) == 1:
		prefix = d.Args[0]
	case len(d.Args) == 2 && d.Args[0] == "^~":
		prefix = d.Args[1]
		notes = append(notes, "^~: edgecache has only prefix routes (longest wins), so none can be overridden by a regex")
	case len(d.Args) == 2 && d.Args[0] == "=":
		t.untranslatable(d, "exact-match locations have no equivalent: edgecache routes by path prefix")
		return
	case len(d.Args) == 2 && (d.Args[0] == "~" || d.Args[0] == "~*"):
		t.untranslatable(d, "regex locations have no equivalent: edgecache routes by path prefix")
		return
	default:
		t.untranslatable(d, "location syntax not understood")
		return
	}
	if !strings.HasPrefix(prefix, "/") {
		t.untranslatable(d, "a prefix must start with /")
		return
	}
	if !strings.HasSuffix(prefix, "/") {
		notes = append(notes, fmt.Sprintf("%s became %s/: edgecache prefixes end with / (nginx's %s also matched %sx...)", prefix, prefix, prefix, prefix))
		prefix += "/"
	}
	sc := &scope{parent: parent}
	t.block(d.Block, sc, ctxLocation)

	var pass *nginxconf.Directive
	for _, c := range d.Block {
		if c.Name == "proxy_pass" && !c.HasBlock {
			pass = c
		}
	}
	if pass == nil {
		nested := false
		for _, c := range d.Block {
			nested = nested || c.Name == "location"
		}
		if !nested {
			t.untranslatable(d, "no proxy_pass: edgecache only proxies (its paths go to the route of the longest other matching prefix, or get 404)")
		}
		return
	}
	if where, dup := t.prefixes[prefix]; dup {
		t.untranslatable(d, "prefix %s is already a route (%s)", prefix, where)
		return
	}
	u, ms, ok := t.origin(pass, prefix)
	if !ok {
		return
	}
	r := &route{prefix: prefix, members: ms}
	pr := proxy.Route{Prefix: r.prefix}
	if ms == nil {
		r.origin = u.String()
		pr.Origin = r.origin
	} else {
		pr.OriginsMode = upstream.Mode(ms.mode)
		for i := range ms.hosts {
			h := &ms.hosts[i]
			mu := *u
			mu.Host = h.host
			h.origin.URL = mu.String()
			pr.Origins = append(pr.Origins, h.origin)
		}
	}
	r.comments = append(r.comments, fmt.Sprintf("%s (%s) + %s", d.String(), d.Where(), pass.String()))
	if strings.HasSuffix(u.Path, prefix) && !strings.HasSuffix(strings.TrimSuffix(pass.Args[0], "/"), strings.TrimSuffix(prefix, "/")) {
		r.comments = append(r.comments, "proxy_pass without a URI passes the whole path: the origin gets the prefix appended")
	}
	r.comments = append(r.comments, notes...)
	if err := (&proxy.Config{Routes: []proxy.Route{pr}}).Validate(); err != nil {
		t.untranslatable(d, "%v", err)
		return
	}
	t.routeHeaders(r, sc)
	t.secureLink(r, sc)
	t.subFilters(r, sc)
	t.cacheValidList(sc.effective("proxy_cache_valid"))
	t.prefixes[prefix] = d.Where()
	t.routes = append(t.routes, r)
}

// origin is the route's origin URL from proxy_pass: with a URI it
// replaces the prefix; without one the request's whole path is passed,
// so the origin is the URL plus the prefix. An upstream block stands for
// its servers: one is the URL's host; several are the route's members
// (upstream.go), each the URL with its own host.
func (t *translator) origin(pass *nginxconf.Directive, prefix string) (origin *url.URL, ms *members, ok bool) {
	if len(pass.Args) != 1 {
		t.untranslatable(pass, "proxy_pass takes one URL")
		return nil, nil, false
	}
	raw := pass.Args[0]
	if strings.Contains(raw, "$") {
		t.untranslatable(pass, "variables in proxy_pass have no equivalent: an origin is a fixed URL")
		return nil, nil, false
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		t.untranslatable(pass, "not an http(s) URL")
		return nil, nil, false
	}
	if strings.HasPrefix(u.Host, "unix:") {
		t.untranslatable(pass, "unix sockets: an origin is reached over TCP")
		return nil, nil, false
	}
	if u.RawQuery != "" || u.Fragment != "" {
		t.untranslatable(pass, "an origin URL cannot have a query")
		return nil, nil, false
	}
	if up, ok := t.upstreams[u.Hostname()]; ok && u.Port() == "" {
		host, m, ok := t.upstreamMembers(up, pass)
		if !ok {
			return nil, nil, false
		}
		if m == nil {
			u.Host = host
		}
		ms = m
	}
	if u.Path == "" {
		u.Path = prefix
	}
	return u, ms, true
}

// upstreamBlock notes what an upstream block's settings become; its
// servers are read where proxy_pass names it.
func (t *translator) upstreamBlock(d *nginxconf.Directive) {
	for _, c := range d.Block {
		switch c.Name {
		case "server":
			// Read where proxy_pass names the upstream.
		case "keepalive":
			if n, err := strconv.Atoi(arg(c, 0)); err == nil && n > 0 && t.maxIdleConns == nil {
				t.maxIdleConns = &setting{value: strconv.Itoa(n), where: c.Where(), note: c.String()}
			}
		case "keepalive_timeout", "keepalive_requests", "keepalive_time":
			t.builtin(c, "the edge keeps idle origin connections open (origin.max_idle_conns_per_host)")
		case "zone":
			t.builtin(c, "not needed: the edge keeps each route's origin health in memory, shared by every request")
		case "hash":
			// origins_mode: hash (upstream.go); the edge's key is the
			// cache key, which $request_uri and $uri stand for.
			if k := arg(c, 0); !strings.Contains(k, "$request_uri") && !strings.Contains(k, "$uri") {
				t.untranslatable(c, "the edge hashes each request's cache key (its path and query), not %s", k)
			}
		default:
			t.untranslatable(c, "no such balancing or upstream setting: the members are taken in round robin (origins_mode: round_robin), backups when the primaries are down")
		}
	}
}

func arg(d *nginxconf.Directive, i int) string {
	if i < len(d.Args) {
		return d.Args[i]
	}
	return ""
}

// dur parses an nginx time and gives it in edgecache's syntax.
func dur(s string) (string, time.Duration, bool) {
	d, err := edgeconfig.ParseDuration(s)
	if err != nil || d < 0 {
		return "", 0, false
	}
	return fmtDur(d), d, true
}

// fmtDur writes d in the fewest units Go's syntax reads: 10s, 1m, 1h30m,
// 500ms.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		s string
		d time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", 1}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.d
		}
	}
	return b.String()
}

// listenAddr turns nginx's listen address into Go's.
func listenAddr(s string) (string, bool) {
	if strings.HasPrefix(s, "unix:") {
		return "", false
	}
	if _, err := strconv.Atoi(s); err == nil {
		return ":" + s, true
	}
	if strings.HasPrefix(s, "*:") {
		return s[1:], true
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if _, err := strconv.Atoi(port); err == nil {
			return net.JoinHostPort(strings.Trim(host, "[]"), port), true
		}
		return "", false
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return s + ":80", true
	}
	return s + ":80", true // an address alone listens on port 80
}

func validUTF8(d *nginxconf.Directive) bool {
	if !utf8.ValidString(d.Name) {
		return false
	}
	for _, a := range d.Args {
		if !utf8.ValidString(a) {
			return false
		}
	}
	return true
}

// isPreflight reports `if ($request_method = OPTIONS)`, quoted or not.
func isPreflight(d *nginxconf.Directive) bool {
	cond := strings.NewReplacer("(", " ", ")", " ").Replace(strings.Join(d.Args, " "))
	f := strings.Fields(cond)
	return len(f) == 3 && f[0] == "$request_method" && f[1] == "=" && strings.EqualFold(f[2], "OPTIONS")
}
