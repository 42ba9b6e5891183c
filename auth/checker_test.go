package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/auth/cat"
	"github.com/edgecache/edgecache/auth/securelink"
	"github.com/edgecache/edgecache/manifest"
	"go.yaml.in/yaml/v3"
)

const hexKey = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388"

var now = time.Unix(1_800_000_000, 0)

func fixedDeps(env map[string]string, files map[string]string) Deps {
	return Deps{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		ReadFile: func(p string) ([]byte, error) {
			if v, ok := files[p]; ok {
				return []byte(v), nil
			}
			return nil, &pathError{p}
		},
		Now: func() time.Time { return now },
	}
}

type pathError struct{ p string }

func (e *pathError) Error() string { return "open " + e.p + ": no such file" }

func mustNew(t testing.TB, yml string, d Deps) *Checker {
	t.Helper()
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(yml))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func req(path, query string, cls manifest.Class) *Request {
	return &Request{Method: "GET", Scheme: "https", Host: "edge.example", Path: path, RawQuery: query,
		ClientIP: netip.MustParseAddr("192.0.2.10"), Header: http.Header{}, Class: cls}
}

func signCAT(t testing.TB, c *cat.Claims, kid, material string) string {
	t.Helper()
	k, err := ParseKey(kid, "HS256", material)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cat.Sign(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const catYAML = `
scheme: cat
cat:
  issuer: eyevinn
  keys:
    - {kid: k1, alg: HS256, key_env: K1}
    - {kid: k2, alg: HS256, key_file: /keys/k2}
`

func catDeps() Deps {
	return fixedDeps(map[string]string{"K1": hexKey}, map[string]string{"/keys/k2": "base64:" + "c2Vjb25kLWtleS1zZWNvbmQta2V5LXNlY29uZC1rZXk="})
}

func TestCATCarriers(t *testing.T) {
	c := mustNew(t, catYAML, catDeps())
	tok := signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60,
		URI: []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchPrefix, Value: "/live/"}}}}}, "k1", hexKey)

	r := req("/live/a.m3u8", "", manifest.ClassHLSMedia)
	if d := c.Check(r); d.OK || d.Status != 401 || d.Reason != "missing" {
		t.Fatalf("no token: %+v", d)
	}
	r.Header.Set("CTA-Common-Access-Token", tok)
	if d := c.Check(r); !d.OK || d.Propagate != nil {
		t.Fatalf("header: %+v", d)
	}
	r = req("/live/a.m3u8", "", manifest.ClassHLSMedia)
	r.Header.Set("Cookie", "other=1; CTA-Common-Access-Token="+tok)
	if d := c.Check(r); !d.OK || d.Propagate != nil {
		t.Fatalf("cookie: %+v", d)
	}
	r = req("/live/a.m3u8", "x=1&CAT="+tok, manifest.ClassHLSMedia)
	d := c.Check(r)
	if !d.OK || d.Propagate == nil || d.Query != "CAT="+tok {
		t.Fatalf("query: %+v", d)
	}
	out, n, err := manifest.PropagateHLS([]byte("#EXTM3U\n#EXTINF:2,\nseg1.m4s\n"), d.Propagate)
	if err != nil || n != 1 || !strings.Contains(string(out), "seg1.m4s?CAT="+tok) {
		t.Fatalf("propagate: %d %v %s", n, err, out)
	}
	// A segment with the token: checked, nothing to propagate.
	if d := c.Check(req("/live/seg1.m4s", "CAT="+tok, manifest.ClassSegment)); !d.OK || d.Propagate != nil {
		t.Fatalf("segment: %+v", d)
	}
	// Token for /live/ used on /vod/.
	if d := c.Check(req("/vod/seg1.m4s", "CAT="+tok, manifest.ClassSegment)); d.OK || d.Status != 403 || d.Reason != "uri" {
		t.Fatalf("other path: %+v", d)
	}
	if d := c.Check(req("/live/seg1.m4s", "CAT=garbage", manifest.ClassSegment)); d.Status != 401 || d.Reason != "malformed" {
		t.Fatalf("garbage: %+v", d)
	}
	// k2 from the key file also verifies.
	tok2 := signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60}, "k2", "base64:c2Vjb25kLWtleS1zZWNvbmQta2V5LXNlY29uZC1rZXk=")
	if d := c.Check(req("/live/seg1.m4s", "CAT="+tok2, manifest.ClassSegment)); !d.OK {
		t.Fatalf("k2: %+v", d)
	}
}

func TestCATProtectManifests(t *testing.T) {
	c := mustNew(t, catYAML+"protect: manifests\n", catDeps())
	if d := c.Check(req("/live/seg1.m4s", "", manifest.ClassSegment)); !d.OK || d.Reason != "unprotected" {
		t.Fatalf("segment: %+v", d)
	}
	if d := c.Check(req("/live/a.mpd", "", manifest.ClassDASHMPD)); d.OK {
		t.Fatalf("mpd: %+v", d)
	}
}

func TestCATRenewal(t *testing.T) {
	c := mustNew(t, catYAML, catDeps())
	mk := func(typ cat.RenewalType) string {
		return signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 30,
			Renewal: &cat.Renewal{Type: typ, ExpAdd: 300, Deadline: 60, HasDeadline: true, CookieParams: []string{"Path=/", "Secure"}}}, "k1", hexKey)
	}
	r := req("/live/seg.m4s", "", manifest.ClassSegment)
	r.Header.Set("CTA-Common-Access-Token", mk(cat.RenewHeader))
	d := c.Check(r)
	if !d.OK || d.RenewHeader != "CTA-Common-Access-Token" || d.RenewValue == "" {
		t.Fatalf("header renewal: %+v", d)
	}
	h := http.Header{}
	d.AddHeaders(h)
	if h.Get("CTA-Common-Access-Token") != d.RenewValue || h.Get("Access-Control-Expose-Headers") != "CTA-Common-Access-Token" {
		t.Fatalf("headers %v", h)
	}
	// The renewed token is good for exp+300.
	r2 := req("/live/seg.m4s", "", manifest.ClassSegment)
	r2.Header.Set("CTA-Common-Access-Token", d.RenewValue)
	later := mustNew(t, catYAML, func() Deps { d := catDeps(); d.Now = func() time.Time { return now.Add(250 * time.Second) }; return d }())
	if d := later.Check(r2); !d.OK {
		t.Fatalf("renewed token later: %+v", d)
	}

	r = req("/live/seg.m4s", "", manifest.ClassSegment)
	r.Header.Set("Cookie", "CTA-Common-Access-Token="+mk(cat.RenewAutomatic))
	if d := c.Check(r); !strings.HasPrefix(d.SetCookie, "CTA-Common-Access-Token=") || !strings.HasSuffix(d.SetCookie, "; Path=/; Secure") {
		t.Fatalf("automatic by cookie: %+v", d)
	}
	// A query token: renewed into the playlist.
	old := mk(cat.RenewAutomatic)
	d = c.Check(req("/live/a.m3u8", "CAT="+old, manifest.ClassHLSMedia))
	if !d.OK || d.Query == "CAT="+old || !strings.HasPrefix(d.Query, "CAT=") || d.SetCookie != "" || d.RenewHeader != "" {
		t.Fatalf("query renewal: %+v", d)
	}
}

func TestCATReplay(t *testing.T) {
	c := mustNew(t, catYAML+"  replay_cache: 100\n", catDeps())
	once := signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60, ID: []byte("a"), Replay: cat.ReplayProhibited, HasReplay: true}, "k1", hexKey)
	if d := c.Check(req("/live/a.m3u8", "CAT="+once, manifest.ClassHLSMedia)); !d.OK {
		t.Fatalf("first use: %+v", d)
	}
	if d := c.Check(req("/live/a.m3u8", "CAT="+once, manifest.ClassHLSMedia)); d.OK || d.Reason != "replay" {
		t.Fatalf("second use: %+v", d)
	}
	detect := signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60, ID: []byte("b"), Replay: cat.ReplayDetect, HasReplay: true}, "k1", hexKey)
	c.Check(req("/live/a.m3u8", "CAT="+detect, manifest.ClassHLSMedia))
	if d := c.Check(req("/live/a.m3u8", "CAT="+detect, manifest.ClassHLSMedia)); !d.OK || !d.Reused {
		t.Fatalf("detect: %+v", d)
	}
}

func TestCATIPRange(t *testing.T) {
	c := mustNew(t, catYAML, catDeps())
	tok := signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60, NetIP: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, "k1", hexKey)
	if d := c.Check(req("/live/a.m3u8", "CAT="+tok, manifest.ClassHLSMedia)); d.OK || d.Reason != "ip" || d.Status != 403 {
		t.Fatalf("%+v", d)
	}
}

func TestCATES256KeyFile(t *testing.T) {
	p, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&p.PublicKey)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	c := mustNew(t, "scheme: cat\ncat:\n  keys: [{kid: e1, alg: ES256, key_file: /e1.pem}]\n", fixedDeps(nil, map[string]string{"/e1.pem": pub}))
	tok, err := cat.Sign(&cat.Claims{Expires: now.Unix() + 9}, &cat.Key{ID: "e1", Alg: cat.AlgES256, Private: p})
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Check(req("/a.m3u8", "CAT="+tok, manifest.ClassHLSMedia)); !d.OK {
		t.Fatalf("%+v", d)
	}
}

const slYAML = `
scheme: secure_link
secure_link:
  link: "$arg_md5,$arg_expires"
  md5: "$secure_link_expires$uri$remote_addr $secure_link_secret"
  secret_env: SL
  segment_grace: 30s
`

func TestSecureLink(t *testing.T) {
	c := mustNew(t, slYAML, fixedDeps(map[string]string{"SL": "s3cret"}, nil))
	l, _ := securelink.Compile(securelink.Config{MD5: "$secure_link_expires$uri$remote_addr $secure_link_secret", Secret: "s3cret"})
	q, _ := l.Sign(securelink.SignRequest{Path: "/live/s1/index.m3u8", Expires: now.Unix() + 60, ClientIP: netip.MustParseAddr("192.0.2.10")})
	d := c.Check(req("/live/s1/index.m3u8", q, manifest.ClassHLSMedia))
	if !d.OK || d.Propagate == nil {
		t.Fatalf("%+v", d)
	}
	out, n, err := manifest.PropagateHLS([]byte("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg1.m4s\n#EXTINF:2,\n../s2/seg1.m4s?x=1\n"), d.Propagate)
	if err != nil || n != 3 {
		t.Fatalf("%d %v", n, err)
	}
	// Each derived link opens its own path, and only that.
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimPrefix(strings.TrimSuffix(line, "\""), "#EXT-X-MAP:URI=\"")
		p, q, ok := strings.Cut(line, "?")
		if !ok {
			continue
		}
		abs, _ := resolveRef("/live/s1/index.m3u8", p)
		if d := c.Check(req(abs, q, manifest.ClassSegment)); !d.OK {
			t.Errorf("%s?%s: %+v", abs, q, d)
		}
		if d := c.Check(req(abs+"x", q, manifest.ClassSegment)); d.OK || d.Status != 403 {
			t.Errorf("%s on another path: %+v", line, d)
		}
	}
	// Expired: 410.
	q, _ = l.Sign(securelink.SignRequest{Path: "/live/s1/index.m3u8", Expires: now.Unix() - 1, ClientIP: netip.MustParseAddr("192.0.2.10")})
	if d := c.Check(req("/live/s1/index.m3u8", q, manifest.ClassHLSMedia)); d.Status != 410 || d.Reason != "expired" {
		t.Fatalf("expired: %+v", d)
	}
	if got := c.TokenParams(); len(got) != 2 || got[0] != "md5" || got[1] != "expires" {
		t.Fatalf("TokenParams %v", got)
	}
}

// Rendition reports point at other playlists; their derived links keep
// the playlist link's expiry, so hopping between renditions cannot extend
// a link past it (only segments get segment_grace).
func TestSecureLinkGraceDoesNotChain(t *testing.T) {
	c := mustNew(t, slYAML, fixedDeps(map[string]string{"SL": "s3cret"}, nil))
	l, _ := securelink.Compile(securelink.Config{MD5: "$secure_link_expires$uri$remote_addr s3cret"})
	exp := now.Unix() + 60
	q, _ := l.Sign(securelink.SignRequest{Path: "/live/a/index.m3u8", Expires: exp, ClientIP: netip.MustParseAddr("192.0.2.10")})
	path := "/live/a/index.m3u8"
	for hop := 0; hop < 4; hop++ {
		d := c.Check(req(path, q, manifest.ClassHLSMedia))
		if !d.OK {
			t.Fatalf("hop %d: %+v", hop, d)
		}
		next := "../b/index.m3u8"
		if hop%2 == 1 {
			next = "../a/index.m3u8"
		}
		out, _, err := manifest.PropagateHLS([]byte("#EXTM3U\n#EXT-X-RENDITION-REPORT:URI=\""+next+"\",LAST-MSN=1\nseg.m4s\n"), d.Propagate)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(out), "\n")
		report := lines[1][strings.Index(lines[1], "?")+1 : strings.Index(lines[1], "\",LAST")]
		seg := lines[2][strings.Index(lines[2], "?")+1:]
		if !strings.Contains(report, fmt.Sprintf("expires=%d", exp)) {
			t.Fatalf("hop %d: report link %q, want expiry %d", hop, report, exp)
		}
		if !strings.Contains(seg, fmt.Sprintf("expires=%d", exp+30)) {
			t.Fatalf("hop %d: segment link %q, want expiry %d", hop, seg, exp+30)
		}
		path, _ = resolveRef(path, next)
		q = report
	}
}

func TestConfigErrors(t *testing.T) {
	d := fixedDeps(nil, nil)
	for name, cfg := range map[string]Config{
		"no scheme":      {},
		"bad protect":    {Scheme: "cat", Protect: "some", CAT: &CATConfig{Keys: []KeyConfig{{ID: "a", Alg: "HS256", Key: hexKey}}}},
		"no keys":        {Scheme: "cat", CAT: &CATConfig{}},
		"bad alg":        {Scheme: "cat", CAT: &CATConfig{Keys: []KeyConfig{{ID: "a", Alg: "RS256", Key: hexKey}}}},
		"two sources":    {Scheme: "cat", CAT: &CATConfig{Keys: []KeyConfig{{ID: "a", Alg: "HS256", Key: hexKey, KeyEnv: "X"}}}},
		"env unset":      {Scheme: "cat", CAT: &CATConfig{Keys: []KeyConfig{{ID: "a", Alg: "HS256", KeyEnv: "X"}}}},
		"short key":      {Scheme: "cat", CAT: &CATConfig{Keys: []KeyConfig{{ID: "a", Alg: "HS256", Key: "abcd"}}}},
		"dup kid":        {Scheme: "cat", CAT: &CATConfig{Keys: []KeyConfig{{ID: "a", Alg: "HS256", Key: hexKey}, {ID: "a", Alg: "HS256", Key: hexKey}}}},
		"no md5":         {Scheme: "secure_link", SecureLink: &SecureLinkConfig{}},
		"bad variable":   {Scheme: "secure_link", SecureLink: &SecureLinkConfig{MD5: "$foo"}},
		"missing secret": {Scheme: "secure_link", SecureLink: &SecureLinkConfig{MD5: "$uri", SecretFile: "/nope"}},
	} {
		if _, err := New(cfg, d); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	c := mustNew(t, catYAML, catDeps())
	tok := signCAT(t, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60,
		URI: []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchPrefix, Value: "/live/"}}}}}, "k1", hexKey)
	r := req("/live/seg1.m4s", "", manifest.ClassSegment)
	r.Header.Set("CTA-Common-Access-Token", tok)
	c.Check(r)
	if n := testing.AllocsPerRun(200, func() {
		if !c.Check(r).OK {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Fatalf("%v allocs per cached CAT check", n)
	}
}

func TestCheckAllocsSecureLink(t *testing.T) {
	c := mustNew(t, slYAML, fixedDeps(map[string]string{"SL": "s3cret"}, nil))
	l, _ := securelink.Compile(securelink.Config{MD5: "$secure_link_expires$uri$remote_addr s3cret"})
	q, _ := l.Sign(securelink.SignRequest{Path: "/live/seg1.m4s", Expires: now.Unix() + 60, ClientIP: netip.MustParseAddr("192.0.2.10")})
	r := req("/live/seg1.m4s", q, manifest.ClassSegment)
	if n := testing.AllocsPerRun(200, func() {
		if !c.Check(r).OK {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Fatalf("%v allocs per secure_link segment check", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	tokFor := func(b *testing.B) string {
		return signCAT(b, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60,
			URI: []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchPrefix, Value: "/live/"}}}}}, "k1", hexKey)
	}
	b.Run("cat-segment-header-cached", func(b *testing.B) {
		c := mustNew(b, catYAML, catDeps())
		r := req("/live/seg1.m4s", "", manifest.ClassSegment)
		r.Header.Set("CTA-Common-Access-Token", tokFor(b))
		b.ReportAllocs()
		for b.Loop() {
			c.Check(r)
		}
	})
	b.Run("cat-playlist-query-cached", func(b *testing.B) {
		c := mustNew(b, catYAML, catDeps())
		r := req("/live/a.m3u8", "CAT="+tokFor(b), manifest.ClassHLSMedia)
		b.ReportAllocs()
		for b.Loop() {
			c.Check(r)
		}
	})
	b.Run("cat-uncached-verify", func(b *testing.B) {
		c := mustNew(b, catYAML+"  cache_size: 1\n", catDeps())
		toks := []string{tokFor(b), signCAT(b, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 61}, "k1", hexKey)}
		r := req("/live/seg1.m4s", "", manifest.ClassSegment)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.Header.Set("CTA-Common-Access-Token", toks[i&1])
			i++
			c.Check(r)
		}
	})
	b.Run("secure-link-segment", func(b *testing.B) {
		c := mustNew(b, slYAML, fixedDeps(map[string]string{"SL": "s3cret"}, nil))
		l, _ := securelink.Compile(securelink.Config{MD5: "$secure_link_expires$uri$remote_addr s3cret"})
		q, _ := l.Sign(securelink.SignRequest{Path: "/live/seg1.m4s", Expires: now.Unix() + 60, ClientIP: netip.MustParseAddr("192.0.2.10")})
		r := req("/live/seg1.m4s", q, manifest.ClassSegment)
		b.ReportAllocs()
		for b.Loop() {
			c.Check(r)
		}
	})
}

// FuzzCheck: whatever a viewer sends in the query, header or cookie, the
// checker answers with a status it documents and never panics.
func FuzzCheck(f *testing.F) {
	tok := signCAT(f, &cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 60}, "k1", hexKey)
	f.Add("/live/a.m3u8", "CAT="+tok, tok, "CTA-Common-Access-Token="+tok)
	f.Add("/live/a.m3u8", "CAT=%zz&CAT=", "", "CTA-Common-Access-Token")
	f.Add("/", "md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647", "", "")
	c := mustNew(f, catYAML, catDeps())
	s := mustNew(f, slYAML, fixedDeps(map[string]string{"SL": "s3cret"}, nil))
	f.Fuzz(func(t *testing.T, path, query, header, cookie string) {
		r := req(path, query, manifest.ClassHLSMedia)
		r.Header.Set("CTA-Common-Access-Token", header)
		r.Header.Set("Cookie", cookie)
		for _, ch := range []*Checker{c, s} {
			d := ch.Check(r)
			switch {
			case d.OK && d.Status == 200:
			case !d.OK && (d.Status == 401 || d.Status == 403 || d.Status == 410):
			default:
				t.Fatalf("%+v", d)
			}
			if d.Propagate != nil {
				_, _, _ = manifest.PropagateHLS([]byte("#EXTM3U\nseg.m4s\n#EXT-X-MAP:URI=\"i.mp4\"\n"), d.Propagate)
			}
		}
	})
}
