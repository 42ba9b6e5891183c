package nginximport

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgecache/edgecache/internal/nginxconf"
	"github.com/edgecache/edgecache/upstream"
)

// members is what an upstream block with several usable servers becomes
// on a route: its origins (ngx_http_upstream_module's server directive),
// their order (the balancing method) and their passive health (max_fails
// and fail_timeout).
type members struct {
	hosts    []member
	mode     string // round_robin (nginx's default), hash
	modeNote string
	// failures and backoff are max_fails and fail_timeout: nginx's
	// defaults (1, 10s) unless the servers say otherwise.
	failures, backoff string
	healthNote        string
}

// member is one server line: its origin entry (the URL is the route's,
// set by location) and its max_fails and fail_timeout as written, nginx's
// defaults when not given.
type member struct {
	host                  string
	origin                upstream.OriginConfig
	maxFails, failTimeout string
	healthGiven           bool
	note                  string
}

// nginx's defaults for a server's max_fails and fail_timeout.
const (
	nginxMaxFails    = "1"
	nginxFailTimeout = "10s"
)

// upstreamMembers reads the servers of the upstream block up, which pass
// names. One usable server gives host alone (the route keeps `origin:`);
// several give m. Servers marked down, on unix sockets or with settings
// the edge lacks are reported on stderr.
func (t *translator) upstreamMembers(up, pass *nginxconf.Directive) (host string, m *members, ok bool) {
	m = &members{mode: "round_robin", modeNote: "nginx's default balancing: weighted round robin over the primaries, backups when they are all down"}
	var first *nginxconf.Directive // the first server, whose max_fails and fail_timeout the route takes
	for _, c := range up.Block {
		switch c.Name {
		case "hash":
			m.mode = "hash"
			m.modeNote = c.String() + ": the edge hashes each request's cache key over the primaries (rendezvous, so a member that leaves moves only its own keys)"
		case "server":
			s, ok := t.upstreamServer(c)
			if !ok {
				continue
			}
			switch {
			case first == nil:
				first = c
				m.failures, m.backoff = s.maxFails, s.failTimeout
			case s.healthGiven && (s.maxFails != m.failures || s.failTimeout != m.backoff):
				// A server that says nothing takes the route's values
				// without a word: the usual backup line.
				t.untranslatable(c, "max_fails and fail_timeout are one setting for the route (origins_health): %s's are kept", first.Args[0])
			}
			m.hosts = append(m.hosts, s)
		}
	}
	switch len(m.hosts) {
	case 0:
		t.untranslatable(pass, "upstream %s has no server the edge can reach", up.Args[0])
		return "", nil, false
	case 1:
		return m.hosts[0].host, nil, true
	}
	m.healthNote = fmt.Sprintf("max_fails=%s fail_timeout=%s (%s, nginx's defaults unless given): failures in a row mark a member down for the backoff, which doubles while it keeps failing", m.failures, m.backoff, first.Where())
	return "", m, true
}

// upstreamServer translates one server line of an upstream block, or
// reports why it cannot.
func (t *translator) upstreamServer(c *nginxconf.Directive) (member, bool) {
	if len(c.Args) == 0 {
		return member{}, false
	}
	s := member{host: c.Args[0], maxFails: nginxMaxFails, failTimeout: nginxFailTimeout, note: fmt.Sprintf("%s (%s)", c.String(), c.Where())}
	if strings.HasPrefix(s.host, "unix:") {
		t.untranslatable(c, "unix sockets: an origin is reached over TCP")
		return member{}, false
	}
	for _, p := range c.Args[1:] {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "backup":
			s.origin.Role = "backup"
		case "down":
			t.untranslatable(c, "a server marked down is left out")
			return member{}, false
		case "weight":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.untranslatable(c, "bad weight %q: weight 1", v)
			} else {
				s.origin.Weight = n
			}
		case "max_fails":
			s.maxFails, s.healthGiven = v, true
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				t.untranslatable(c, "bad max_fails %q", v)
			} else if n == 0 {
				t.untranslatable(c, "max_fails=0: passive health cannot be turned off; origins_health.failures keeps the route's value")
			}
		case "fail_timeout":
			s.failTimeout, s.healthGiven = v, true
			if _, _, ok := dur(v); !ok {
				t.untranslatable(c, "bad fail_timeout %q", v)
			}
		case "resolve":
			// Names are resolved per connection anyway.
		default:
			t.untranslatable(c, "%s: no equivalent for an origin", k)
		}
	}
	return s, true
}

// healthValues turns the members' max_fails and fail_timeout into
// origins_health values the config reads; a max_fails of 0 or a bad
// value leaves the edge's default.
func (m *members) healthValues() (failures string, backoff string) {
	if n, err := strconv.Atoi(m.failures); err == nil && n > 0 {
		failures = m.failures
	}
	if v, _, ok := dur(m.backoff); ok && v != "0s" {
		backoff = v
	}
	return failures, backoff
}
