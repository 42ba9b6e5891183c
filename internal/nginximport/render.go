package nginximport

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgecache/edgecache/proxy"
	"go.yaml.in/yaml/v3"
)

// comment wraps text into YAML comment lines of about 76 columns.
func comment(texts ...string) string {
	var lines []string
	for _, text := range texts {
		// A comment carries text from the nginx file: keep it printable
		// (the YAML encoder refuses what is not).
		text = strings.Map(func(r rune) rune {
			if r == utf8.RuneError || r < 0x20 && r != '\t' || r == 0x7f {
				return '?'
			}
			return r
		}, strings.ToValidUTF8(text, "?"))
		var line string
		for _, w := range strings.Fields(text) {
			if line != "" && len(line)+1+len(w) > 76 {
				lines = append(lines, "# "+line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		if line != "" {
			lines = append(lines, "# "+line)
		}
	}
	return strings.Join(lines, "\n")
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func list(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, it := range items {
		n.Content = append(n.Content, quoted(it))
	}
	return n
}

type mapping struct{ n *yaml.Node }

func newMapping() *mapping { return &mapping{&yaml.Node{Kind: yaml.MappingNode}} }

// add appends key: v, with head (above) and line (beside) comments.
func (m *mapping) add(key string, v *yaml.Node, head string, line ...string) {
	k := str(key)
	if _, err := strconv.Atoi(key); err == nil {
		k.Tag = "!!int"
	}
	k.HeadComment = head
	if len(line) > 0 {
		v.LineComment = comment(line...)
	}
	m.n.Content = append(m.n.Content, k, v)
}

func (m *mapping) empty() bool { return len(m.n.Content) == 0 }

func (t *translator) render() ([]byte, error) {
	top := newMapping()
	if t.listen != nil {
		top.add("listen", quoted(t.listen.value), comment(t.listen.note))
	}

	routes := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range t.routes {
		routes.Content = append(routes.Content, t.renderRoute(r))
	}
	top.add("routes", routes, "")

	cache := newMapping()
	if t.cacheMax != nil {
		cache.add("max_bytes", str(t.cacheMax.value), comment(fmt.Sprintf("%s: the RAM budget", t.cacheMax.note)))
	}
	if !cache.empty() {
		top.add("cache", cache.n, comment(t.cacheNotes...))
	} else if len(t.cacheNotes) > 0 {
		top.add("cache", newMapping().n, comment(t.cacheNotes...))
	}

	if t.ttl200 != nil || t.override != nil {
		top.add("classes", t.renderClasses(), t.classesComment())
	}
	if len(t.statusTTLs) > 0 {
		st := newMapping()
		slices.SortStableFunc(t.statusTTLs, func(a, b statusTTL) int { return a.code - b.code })
		for _, s := range t.statusTTLs {
			st.add(strconv.Itoa(s.code), str(s.value), comment(s.note))
		}
		top.add("status_ttl", st.n, comment(append([]string{"Responses of these statuses without Cache-Control or Expires are cached this long (proxy_cache_valid for codes other than 200)."}, t.statusNotes...)...))
	}

	origin := newMapping()
	addSetting(origin, "connect_timeout", t.originConn)
	addSetting(origin, "idle_timeout", t.originIdle, "nginx's read timeout is between two reads, as the edge's idle timeout is")
	if t.maxIdleConns != nil {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: t.maxIdleConns.value}
		origin.add("max_idle_conns_per_host", n, comment(fmt.Sprintf("%s (%s)", t.maxIdleConns.note, t.maxIdleConns.where)))
	}
	if !origin.empty() {
		top.add("origin", origin.n, "")
	}
	client := newMapping()
	addSetting(client, "read_header_timeout", t.clientHeader)
	addSetting(client, "idle_timeout", t.clientIdle)
	addSetting(client, "write_idle_timeout", t.clientWrite, "nginx's send_timeout is between two writes, as this is")
	addSetting(client, "send_buffer", t.clientSndbuf, "SO_SNDBUF on each viewer connection, as nginx sets it on the listening socket")
	addSetting(client, "max_header_bytes", t.clientMaxHdr, "the request head, request line and fields together: nginx's buffers times their size")
	addSetting(client, "max_body_bytes", t.clientMaxBody, "one limit for the whole edge (0: none, as in nginx)")
	addSetting(client, "body_timeout", t.clientBodyTime, "between two reads of the body, as nginx's")
	stream := t.requestBuffering != nil && t.requestBuffering.value == "off"
	if stream {
		client.add("stream_bodies", boolean(true), comment(fmt.Sprintf("%s (%s): one setting for the whole edge", t.requestBuffering.note, t.requestBuffering.where)))
	}
	if s := t.clientMaxBody; s != nil && !stream {
		// Bodies are read whole into memory (nginx spills a long one to a
		// file): the edge's budget for them must hold the longest.
		if n, err := proxy.ParseByteSize(s.value); err == nil && n > int64(proxy.DefaultConfig().Client.BodyBufferBytes) {
			client.add("body_buffer_bytes", str(s.value), comment(fmt.Sprintf("%s (%s): at least the longest body, all held in memory at once (nginx writes a long one to a file); or proxy_request_buffering off, which streams it", s.note, s.where)))
		}
	}
	if !client.empty() {
		top.add("client", client.n, "")
	}
	if t.logLevel != nil {
		top.add("log_level", str(t.logLevel.value), comment(fmt.Sprintf("%s (%s): the level of the edge's own log, on stdout", t.logLevel.note, t.logLevel.where)))
	}
	if t.accessLog != nil {
		al := newMapping()
		al.add("path", str(t.accessLog.value), "")
		if t.accessFormat != "" {
			al.add("format", quoted(t.accessFormat), "")
		}
		top.add("access_log", al.n, comment(append([]string{fmt.Sprintf("%s (%s)", t.accessLog.note, t.accessLog.where)}, t.accessNotes...)...))
	}
	if len(t.trusted) > 0 {
		note := fmt.Sprintf("set_real_ip_from (%s): the client address is taken from X-Forwarded-For only when the peer is one of these, walked right to left", t.trustedWhere)
		if t.realIPHeader == nil {
			note += "; nginx had no real_ip_header X-Forwarded-For, so it read X-Real-IP: the edge reads X-Forwarded-For"
		}
		top.add("trusted_proxies", list(t.trusted), comment(note))
	}

	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{top.n}}
	var b bytes.Buffer
	b.WriteString(comment("edgecache config imported from nginx by `edgecache import-nginx`. Every value says where it came from; what has no equivalent was listed on stderr. Check it with `edgecache -check-config FILE`."))
	b.WriteString("\n\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if foot := append(append([]string(nil), t.listenExtra...), t.builtIn...); len(foot) > 0 {
		b.WriteString("\n# What the nginx config needed that edgecache does by itself, or does not need:\n")
		for _, f := range foot {
			b.WriteString(strings.ReplaceAll(comment("- "+f), "\n# ", "\n#   "))
			b.WriteString("\n")
		}
	}
	return b.Bytes(), nil
}

func addSetting(m *mapping, key string, s *setting, extra ...string) {
	if s == nil {
		return
	}
	m.add(key, str(s.value), comment(append([]string{fmt.Sprintf("%s (%s)", s.note, s.where)}, extra...)...))
}

func (t *translator) renderRoute(r *route) *yaml.Node {
	m := newMapping()
	heads := r.comments
	if len(r.respHeaders) == 0 {
		heads = append(heads, r.respNotes...)
	}
	m.n.HeadComment = comment(heads...)
	m.add("prefix", str(r.prefix), "")
	if ms := r.members; ms != nil {
		m.add("origins_mode", str(ms.mode), comment(ms.modeNote))
		if f, b := ms.healthValues(); f != "" || b != "" {
			h := newMapping()
			if f != "" {
				h.add("failures", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: f}, "")
			}
			if b != "" {
				h.add("backoff", str(b), "")
			}
			h.n.Style = yaml.FlowStyle
			m.add("origins_health", h.n, comment(ms.healthNote))
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, h := range ms.hosts {
			om := newMapping()
			om.add("url", str(h.origin.URL), "")
			if h.origin.Role != "" {
				om.add("role", str(h.origin.Role), "")
			}
			if h.origin.Weight > 0 {
				om.add("weight", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(h.origin.Weight)}, "")
			}
			om.n.HeadComment = comment(h.note)
			seq.Content = append(seq.Content, om.n)
		}
		m.add("origins", seq, "")
	} else {
		m.add("origin", str(r.origin), "")
	}
	if r.originHost != "" {
		m.add("origin_host", quoted(r.originHost), comment(r.originHostNote))
	}
	if len(r.originHeaders) > 0 {
		h := newMapping()
		for _, p := range r.originHeaders {
			h.add(p.k, quoted(p.v), "")
		}
		m.add("origin_headers", h.n, comment("proxy_set_header with fixed values: set on every request to the origin"))
	}
	if len(r.forwardHeaders) > 0 {
		m.add("forward_headers", list(r.forwardHeaders), "")
	}
	if len(r.respHeaders) > 0 {
		h := newMapping()
		for _, p := range r.respHeaders {
			h.add(p.k, quoted(p.v), "")
		}
		m.add("response_headers", h.n, comment(append([]string{"add_header ... always: set on every response of the route, replacing the origin's value"}, r.respNotes...)...))
	}
	if c := r.cors; c != nil {
		cm := newMapping()
		if len(c.origins) > 0 {
			cm.add("allow_origins", list(c.origins), "")
		}
		if len(c.methods) > 0 {
			cm.add("allow_methods", list(c.methods), "")
		}
		if len(c.headers) > 0 {
			cm.add("allow_headers", list(c.headers), "")
		}
		if len(c.expose) > 0 {
			cm.add("expose_headers", list(c.expose), "")
		}
		if c.maxAge != "" {
			cm.add("max_age", str(c.maxAge), "")
		}
		if c.credentials {
			cm.add("allow_credentials", boolean(true), "")
		}
		m.add("cors", cm.n, comment(append([]string{"CORS: the edge answers preflights itself and adds these to every response, its own errors included, from:"}, c.notes...)...))
	}
	if a := r.auth; a != nil {
		sl := newMapping()
		sl.add("link", quoted(a.link), "")
		sl.add("md5", quoted(a.md5), "")
		am := newMapping()
		am.add("scheme", str("secure_link"), "")
		am.add("secure_link", sl.n, "")
		m.add("auth", am.n, comment(a.notes...))
	}
	return m.n
}

var classNames = []string{"manifest", "segment", "init", "other"}

func (t *translator) classesComment() string {
	var texts []string
	if t.ttl200 != nil {
		texts = append(texts, fmt.Sprintf("%s (%s): a 200 without Cache-Control or Expires lives %s in every class; the origin's own Cache-Control still wins unless override is true. The other values are edgecache's defaults, written out because a class given here replaces the default one whole.", t.ttl200.note, t.ttl200.where, t.ttl200.value))
	}
	if t.override != nil {
		texts = append(texts, fmt.Sprintf("%s (%s): override: the configured TTLs win over the origin's Cache-Control and Expires.", t.override.note, t.override.where))
	}
	return comment(texts...)
}

func (t *translator) renderClasses() *yaml.Node {
	def := proxy.DefaultConfig().Classes
	cl := newMapping()
	for _, name := range classNames {
		p := def[name]
		if t.ttl200 != nil {
			_, d, _ := dur(t.ttl200.value)
			p.TTL = d
		}
		p.Override = t.override != nil
		m := newMapping()
		m.add("ttl", str(fmtDur(p.TTL)), "")
		if p.Override {
			m.add("override", boolean(true), "")
		}
		for _, f := range []struct {
			k string
			d time.Duration
		}{{"max_ttl", p.MaxTTL}, {"stale_while_updating", p.StaleWhileUpdating}, {"refresh_wait", p.RefreshWait}, {"stale_if_error", p.StaleIfError}} {
			if f.d > 0 {
				m.add(f.k, str(fmtDur(f.d)), "")
			}
		}
		var head string
		switch name {
		case "manifest":
			head = comment("For live HLS media playlists and dynamic MPDs the lifetime derived from the playlist (half a target duration; minimumUpdatePeriod) replaces ttl, so no viewer gets a playlist older than one target duration.")
		case "segment":
			if p.TTL < def[name].TTL {
				head = comment(fmt.Sprintf("Segments never change under one URL: edgecache's default is %s; %s is kept from nginx.", fmtDur(def[name].TTL), fmtDur(p.TTL)))
			}
		}
		cl.add(name, m.n, head)
	}
	return cl.n
}
