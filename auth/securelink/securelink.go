// Package securelink checks and signs nginx secure_link links
// (ngx_http_secure_link_module, "secure_link" and "secure_link_md5"): the
// MD5 of an expression over the request, base64url without padding, with
// an optional expiry in epoch seconds.
//
// It follows nginx: the link expression's value is "hash[,expires]"; a
// hash that is not 16 bytes of base64url, an expiry that is not a
// positive number, or a hash that does not match means 403; a matching
// hash whose expiry has passed means 410 (the statuses nginx's documented
// configuration returns for $secure_link "" and "0").
package securelink

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is one route's secure_link setup.
type Config struct {
	// Link is the secure_link expression: where the hash and the expiry
	// come from. Empty means "$arg_md5,$arg_expires".
	Link string
	// MD5 is the secure_link_md5 expression. Required. Variables: $uri,
	// $secure_link_expires, $remote_addr, $arg_NAME, $http_NAME, $host,
	// $scheme, and $secure_link_secret (Secret, so that the secret need
	// not be written into the expression).
	MD5 string
	// Secret is the value of $secure_link_secret; empty when unused.
	Secret string
}

// Link is a compiled Config, safe for concurrent use.
type Link struct {
	link, md5   expr
	secret      string
	hashParam   string // NAME of a link expression "$arg_NAME[,$arg_NAME2]"
	expiryParam string
}

// Compile checks and compiles c.
func Compile(c Config) (*Link, error) {
	if c.Link == "" {
		c.Link = "$arg_md5,$arg_expires"
	}
	if c.MD5 == "" {
		return nil, errors.New("securelink: md5 expression is required")
	}
	l := &Link{secret: c.Secret}
	var err error
	if l.link, err = compile(c.Link); err != nil {
		return nil, err
	}
	if l.md5, err = compile(c.MD5); err != nil {
		return nil, err
	}
	for _, p := range l.md5 {
		if p.kind == varSecret && c.Secret == "" {
			return nil, errors.New("securelink: $secure_link_secret used but no secret set")
		}
	}
	// Signing and propagation need to know which parameters to write; a
	// link expression of another shape can only be checked.
	h, e, _ := strings.Cut(c.Link, ",")
	if n, ok := argOnly(h); ok {
		l.hashParam = n
		if e == "" {
			return l, nil
		}
		if n2, ok := argOnly(e); ok {
			l.expiryParam = n2
		} else {
			l.hashParam = ""
		}
	}
	return l, nil
}

func argOnly(s string) (string, bool) {
	e, err := compile(strings.TrimSpace(s))
	if err != nil || len(e) != 1 || e[0].kind != varArg {
		return "", false
	}
	return e[0].text, true
}

// Params names the query parameters that carry the hash and the expiry
// ("" when the link expression is not of the form $arg_A[,$arg_B]).
func (l *Link) Params() (hash, expiry string) { return l.hashParam, l.expiryParam }

// Request is what a link is checked against.
type Request struct {
	Path     string // the normalised path ($uri)
	RawQuery string
	ClientIP netip.Addr
	Header   http.Header
	Host     string
	Scheme   string
}

// Result of a check. Status is 200, 403 or 410; Reason is "ok",
// "missing", "malformed", "bad_hash" or "expired"; Expires is the link's
// expiry (0 when it has none).
type Result struct {
	Status  int
	Reason  string
	Expires int64
}

// Check validates a request's link at time now.
func (l *Link) Check(r *Request, now time.Time) Result {
	var buf [256]byte
	ev := env{path: r.Path, rawQuery: r.RawQuery, client: r.ClientIP, header: r.Header, host: r.Host, scheme: r.Scheme, secret: l.secret}
	val := l.link.appendTo(buf[:0], &ev)
	if len(val) == 0 {
		return Result{Status: 403, Reason: "missing"}
	}
	hashText, expText := val, []byte(nil)
	var expires int64
	if i := indexByte(val, ','); i >= 0 {
		hashText, expText = val[:i], val[i+1:]
		if len(hashText) == 0 {
			return Result{Status: 403, Reason: "missing"}
		}
		n, err := strconv.ParseInt(string(expText), 10, 64)
		if err != nil || n <= 0 {
			return Result{Status: 403, Reason: "malformed"}
		}
		expires = n
	}
	// ngx_http_secure_link_variable: at most 24 characters of base64url
	// that decode to exactly 16 bytes.
	for len(hashText) > 0 && hashText[len(hashText)-1] == '=' {
		hashText = hashText[:len(hashText)-1]
	}
	if len(hashText) > 24 {
		return Result{Status: 403, Reason: "malformed"}
	}
	var got [18]byte
	n, err := base64.RawURLEncoding.Decode(got[:], hashText)
	if err != nil || n != md5.Size {
		return Result{Status: 403, Reason: "malformed"}
	}
	ev.expires = string(expText)
	var mbuf [512]byte
	want := md5.Sum(l.md5.appendTo(mbuf[:0], &ev))
	if subtle.ConstantTimeCompare(got[:md5.Size], want[:]) != 1 {
		return Result{Status: 403, Reason: "bad_hash"}
	}
	if expires != 0 && expires < now.Unix() {
		return Result{Status: 410, Reason: "expired", Expires: expires}
	}
	return Result{Status: 200, Reason: "ok", Expires: expires}
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// SignRequest is what a link is minted for.
type SignRequest struct {
	Path     string
	Expires  int64 // 0: no expiry
	ClientIP netip.Addr
	// Args are the other query parameters the md5 expression reads
	// ($arg_NAME); they are written into the returned query too.
	Args   url.Values
	Header http.Header
	Host   string
	Scheme string
}

// Hash returns the base64url MD5 of the md5 expression for s.
func (l *Link) Hash(s SignRequest) string {
	exp := ""
	if s.Expires != 0 {
		exp = strconv.FormatInt(s.Expires, 10)
	}
	q := ""
	if len(s.Args) > 0 {
		q = s.Args.Encode()
	}
	ev := env{path: s.Path, rawQuery: q, expires: exp, client: s.ClientIP, header: s.Header, host: s.Host, scheme: s.Scheme, secret: l.secret}
	sum := md5.Sum(l.md5.appendTo(nil, &ev))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Sign returns the query string that makes s's link valid:
// "md5=HASH&expires=EXP" (with the configured names), followed by the
// Args the expression reads.
func (l *Link) Sign(s SignRequest) (string, error) {
	if l.hashParam == "" {
		return "", errors.New("securelink: link expression is not $arg_HASH[,$arg_EXPIRES]; cannot write a link")
	}
	if s.Expires != 0 && l.expiryParam == "" {
		return "", errors.New("securelink: expiry given but the link expression has none")
	}
	var b strings.Builder
	b.WriteString(url.QueryEscape(l.hashParam))
	b.WriteByte('=')
	b.WriteString(l.Hash(s))
	if s.Expires != 0 {
		fmt.Fprintf(&b, "&%s=%d", url.QueryEscape(l.expiryParam), s.Expires)
	}
	for _, n := range l.md5.argNames() {
		if strings.EqualFold(n, l.hashParam) || strings.EqualFold(n, l.expiryParam) {
			continue
		}
		if v := s.Args.Get(n); v != "" {
			b.WriteByte('&')
			b.WriteString(url.QueryEscape(n))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String(), nil
}

// Derive returns the query for another path requested by the same
// viewer: a playlist's segment links. The expiry is the validated link's
// plus grace (none when it had none); $arg_NAME values come from the
// validated request. ok is false when the link expression cannot be
// written (see Params).
func (l *Link) Derive(r *Request, res Result, path string, grace time.Duration) (string, bool) {
	if l.hashParam == "" {
		return "", false
	}
	exp := res.Expires
	if exp != 0 {
		exp += int64(grace / time.Second)
	}
	args := url.Values{}
	for _, n := range l.md5.argNames() {
		if v, ok := arg(r.RawQuery, n); ok {
			// $arg_ values are raw; unescape once so Sign's escaping
			// gives back the same bytes for ordinary values.
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
			args.Set(n, v)
		}
	}
	q, err := l.Sign(SignRequest{Path: path, Expires: exp, ClientIP: r.ClientIP, Args: args, Header: r.Header, Host: r.Host, Scheme: r.Scheme})
	return q, err == nil
}

// UsesURI reports whether the md5 expression reads $uri, i.e. whether a
// link is good for one path only.
func (l *Link) UsesURI() bool {
	for _, p := range l.md5 {
		if p.kind == varURI {
			return true
		}
	}
	return false
}
