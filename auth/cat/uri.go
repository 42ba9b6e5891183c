package cat

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"net/url"
	"regexp"
	"strings"
)

// compiledRule is a URIRule ready to match: regexes compiled once per
// verified token, not per request.
type compiledRule struct {
	comp    URIComponent
	matches []compiledMatch
}

type compiledMatch struct {
	Match
	re *regexp.Regexp
}

func compileRules(rules []URIRule) ([]compiledRule, error) {
	out := make([]compiledRule, 0, len(rules))
	for _, r := range rules {
		cr := compiledRule{comp: r.Component}
		for _, m := range r.Matches {
			cm := compiledMatch{Match: m}
			if m.Type == MatchRegex {
				re, err := regexp.Compile(m.Value)
				if err != nil {
					return nil, err
				}
				cm.re = re
			}
			cr.matches = append(cr.matches, cm)
		}
		out = append(out, cr)
	}
	return out, nil
}

// uriPart extracts one component of the request URI, as the reference
// implementation does: path components from the path; extension from the
// first '.' of the filename, dot included; port empty when default.
func uriPart(c URIComponent, r *Request) string {
	switch c {
	case URIScheme:
		return r.Scheme
	case URIHost:
		h, _ := splitHostPort(r.Host)
		return strings.ToLower(h)
	case URIPort:
		_, p := splitHostPort(r.Host)
		if (p == "443" && r.Scheme == "https") || (p == "80" && r.Scheme == "http") {
			return ""
		}
		return p
	case URIPath:
		return r.Path
	case URIQuery:
		return canonicalQuery(r.RawQuery, r.TokenParam)
	case URIParentPath:
		i := strings.LastIndexByte(r.Path, '/')
		if i < 0 {
			return ""
		}
		return r.Path[:i]
	}
	name := r.Path[strings.LastIndexByte(r.Path, '/')+1:]
	switch c {
	case URIFilename:
		return name
	case URIStem:
		if i := strings.IndexByte(name, '.'); i >= 0 {
			return name[:i]
		}
		return name
	case URIExtension:
		if i := strings.IndexByte(name, '.'); i >= 0 {
			return name[i:]
		}
		return ""
	}
	return ""
}

func splitHostPort(h string) (host, port string) {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			host = h[1:i]
			if len(h) > i+1 && h[i+1] == ':' {
				port = h[i+2:]
			}
			return host, port
		}
		return h, ""
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		return h[:i], h[i+1:]
	}
	return h, ""
}

// canonicalQuery sorts the query's parameters and drops the token's own,
// so that the query rule of a token cannot depend on the token.
func canonicalQuery(raw, tokenParam string) string {
	if raw == "" {
		return ""
	}
	v, err := url.ParseQuery(strings.TrimPrefix(raw, "?"))
	if err != nil {
		return raw
	}
	for k := range v {
		if strings.EqualFold(k, tokenParam) || strings.EqualFold(k, "cat") {
			delete(v, k)
		}
	}
	return v.Encode() // sorted by key
}

func (m *compiledMatch) matchValue(s string, comp URIComponent, r *Request) bool {
	switch m.Type {
	case MatchExact:
		if comp == URIQuery {
			return s == canonicalQuery(m.Value, r.TokenParam)
		}
		if comp == URIHost || comp == URIScheme {
			return strings.EqualFold(s, m.Value)
		}
		return s == m.Value
	case MatchPrefix:
		return strings.HasPrefix(s, m.Value)
	case MatchSuffix:
		return strings.HasSuffix(s, m.Value)
	case MatchContains:
		return strings.Contains(s, m.Value)
	case MatchRegex:
		return m.re.MatchString(s)
	case MatchSHA256:
		d := sha256.Sum256([]byte(s))
		return subtle.ConstantTimeCompare(d[:], []byte(m.Value)) == 1
	case MatchSHA512256:
		d := sha512.Sum512_256([]byte(s))
		return subtle.ConstantTimeCompare(d[:], []byte(m.Value)) == 1
	}
	return false
}

func matchURI(rules []compiledRule, r *Request) bool {
	for i := range rules {
		s := uriPart(rules[i].comp, r)
		for j := range rules[i].matches {
			if !rules[i].matches[j].matchValue(s, rules[i].comp, r) {
				return false
			}
		}
	}
	return true
}
