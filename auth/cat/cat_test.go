package cat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// RFC 8392 A.2.1: the 256-bit symmetric key "Symmetric256".
func symmetric256(t testing.TB) []byte {
	k, err := hex.DecodeString("403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hsKey(t testing.TB, kid string) *Key {
	return &Key{ID: kid, Alg: AlgHS256, Secret: symmetric256(t)}
}

func esKey(t testing.TB, kid string) *Key {
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{ID: kid, Alg: AlgES256, Private: p, Public: &p.PublicKey}
}

var now = time.Unix(1_800_000_000, 0)

func baseReq() *Request {
	return &Request{
		Method: "GET", Scheme: "https", Host: "cdn.example.com",
		Path: "/live/s1/index.m3u8", ClientIP: netip.MustParseAddr("192.0.2.7"),
		TokenParam: "CAT",
	}
}

func mustVerifier(t testing.TB, o Options) *Verifier {
	t.Helper()
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustSign(t testing.TB, c *Claims, k *Key) string {
	t.Helper()
	s, err := Sign(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	hs, es := hsKey(t, "k1"), esKey(t, "e1")
	v := mustVerifier(t, Options{Keys: []*Key{hs, es}, Issuer: "eyevinn"})
	for _, k := range []*Key{hs, es} {
		t.Run(k.Alg.String(), func(t *testing.T) {
			tok := mustSign(t, &Claims{Issuer: "eyevinn", Expires: now.Unix() + 60, ID: []byte("abc")}, k)
			got, _, err := v.Check(tok, baseReq(), now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != k || got.Claims.Issuer != "eyevinn" || string(got.Claims.ID) != "abc" {
				t.Fatalf("got %+v", got.Claims)
			}
		})
	}
}

// Tokens made by @eyevinn/cat 0.16.4 (e2e/cat runs it live; these are
// fixed copies so the unit tests need no node).
func TestReferenceVectors(t *testing.T) {
	key := symmetric256(t)
	cases := []struct {
		name, tok string
		alg       Alg
		kid       string
		at        int64
		iss       string
	}{
		{
			// The library's README example: RFC 8392 A.4's claims, HMAC
			// 256/64, payload written as hex text, kid Symmetric256.
			name: "readme-hs256-64",
			tok:  "0YRDoQEEoQRMU3ltbWV0cmljMjU2eKZkOTAxMDNhNzAxNzU2MzZmNjE3MDNhMmYyZjYxNzMyZTY1Nzg2MTZkNzA2YzY1MmU2MzZmNmQwMjY1NmE2ZjZlNjE3MzAzNzgxODYzNmY2MTcwM2EyZjJmNmM2OTY3Njg3NDJlNjU3ODYxNmQ3MDZjNjUyZTYzNmY2ZDA0MWE1NjEyYWViMDA1MWE1NjEwZDlmMDA2MWE1NjEwZDlmMDA3NDIwYjcxSKuCk/+kFmlY",
			alg:  AlgHS256Trunc64, kid: "Symmetric256", at: 1444000000, iss: "coap://as.example.com",
		},
		{
			name: "hs256-untagged-text-payload",
			tok:  "0YRDoQEFoQRCazF4bmE2MDE2NzY1Nzk2NTc2Njk2ZTZlMDQxYTZiMTQ0NWIxMTkwMTM3ODFkODM0ODIwODQ0MGEwMDAwMDAxOTAxMzhhMTAzYTEwMTY2MmY2YzY5NzY2NTJmMTkwMTM5ODE2MzQ3NDU1NDE5MDEzNjAxWCDvzm9BL1o-o2-jyZdGj2YGet7YyG7UQOQqXCb06Rt97Q",
			alg:  AlgHS256, kid: "k1", at: 1796490000, iss: "eyevinn",
		},
		{
			name: "hs256-cwt-tag",
			tok:  "2D3RhEOhAQWhBEJrMVg3pgFnZXlldmlubgQaaxRFsRkBN4HYNIIIRAoAAAAZATihA6EBZi9saXZlLxkBOYFjR0VUGQE2AVggmZRuWDNTcJmJcGk8bWamEbwACx52lY-XR3p_sdtPpeE",
			alg:  AlgHS256, kid: "k1", at: 1796490000, iss: "eyevinn",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := mustVerifier(t, Options{Keys: []*Key{{ID: tc.kid, Alg: tc.alg, Secret: key}}, Issuer: tc.iss})
			tok, err := v.Verify(tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			r := baseReq()
			r.Path = "/live/x.m4s"
			r.ClientIP = netip.MustParseAddr("10.1.2.3")
			if err := v.Validate(tok, r, time.Unix(tc.at, 0)); err != nil {
				t.Fatal(err)
			}
			if err := v.Validate(tok, r, time.Unix(tc.at+1e8, 0)); !errors.Is(err, ErrExpired) {
				t.Fatalf("later: %v, want expired", err)
			}
			// One flipped bit in the MAC tag.
			b, _ := decodeBase64(tc.tok)
			b[len(b)-1] ^= 1
			bad := base64.RawURLEncoding.EncodeToString(b)
			if _, err := v.Verify(bad); !errors.Is(err, ErrSignature) {
				t.Fatalf("tampered: %v", err)
			}
		})
	}
}

// RFC 8392 A.3: the example signed CWT (COSE_Sign1, ES256).
func TestRFC8392SignedExample(t *testing.T) {
	raw, _ := hex.DecodeString("d28443a10126a104524173796d6d657472696345434453413235365850a70175636f61703a2f2f61732e6578616d706c652e636f6d02656572696b77037818636f61703a2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0051a5610d9f0061a5610d9f007420b7158405427c1ff28d23fbad1f29c4c7c6a555e601d6fa29f9179bc3d7438bacaca5acd08c8d4d4f96131680c429a01f85951ecee743a52b9b63632c57209120e1c9e30")
	x, _ := new(big.Int).SetString("143329cce7868e416927599cf65a34f3ce2ffda55a7eca69ed8919a394d42f0f", 16)
	y, _ := new(big.Int).SetString("60f7f1a780d8a783bfb7a2dd6b2796e8128dbbcef9d3d168db9529971a36e7b9", 16)
	k := &Key{ID: "AsymmetricECDSA256", Alg: AlgES256, Public: &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}}
	v := mustVerifier(t, Options{Keys: []*Key{k}, Issuer: "coap://as.example.com", Audience: []string{"coap://light.example.com"}})
	tok, err := v.Verify(base64.RawURLEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.Subject != "erikw" || tok.Claims.Expires != 1444064944 {
		t.Fatalf("claims %+v", tok.Claims)
	}
	if err := v.Validate(tok, baseReq(), time.Unix(1444000000, 0)); err != nil {
		t.Fatal(err)
	}
}

func TestClaims(t *testing.T) {
	k := hsKey(t, "k1")
	v := mustVerifier(t, Options{Keys: []*Key{k}, Issuer: "iss", Leeway: 5 * time.Second})
	exp := now.Unix() + 60
	uri := func(c URIComponent, m ...Match) []URIRule { return []URIRule{{Component: c, Matches: m}} }
	cases := []struct {
		name string
		c    Claims
		req  func(*Request)
		want error
	}{
		{"ok", Claims{Expires: exp}, nil, nil},
		{"expired", Claims{Expires: now.Unix() - 6}, nil, ErrExpired},
		{"expired within leeway", Claims{Expires: now.Unix() - 5}, nil, nil},
		{"nbf future", Claims{Expires: exp, NotBefore: now.Unix() + 6}, nil, ErrNotYetValid},
		{"nbf within leeway", Claims{Expires: exp, NotBefore: now.Unix() + 5}, nil, nil},
		{"wrong issuer", Claims{Issuer: "other", Expires: exp}, nil, ErrIssuer},
		{"catv 2", Claims{Expires: exp, Version: 2}, nil, ErrVersion},
		{"catm ok", Claims{Expires: exp, Methods: []string{"GET", "HEAD"}}, nil, nil},
		{"catm refused", Claims{Expires: exp, Methods: []string{"HEAD"}}, nil, ErrMethod},
		{"catnip v4 prefix", Claims{Expires: exp, NetIP: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, nil, nil},
		{"catnip v4 other", Claims{Expires: exp, NetIP: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, nil, ErrIP},
		{"catnip v4-mapped client", Claims{Expires: exp, NetIP: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
			func(r *Request) { r.ClientIP = netip.MustParseAddr("::ffff:192.0.2.9") }, nil},
		{"catnip v6", Claims{Expires: exp, NetIP: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")}},
			func(r *Request) { r.ClientIP = netip.MustParseAddr("2001:db8::1") }, nil},
		{"catnip v6 exact", Claims{Expires: exp, NetIP: []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128")}},
			func(r *Request) { r.ClientIP = netip.MustParseAddr("2001:db8::2") }, ErrIP},
		{"catnip asn only", Claims{Expires: exp, ASN: []uint32{64500}}, nil, ErrIP},
		{"catu path prefix", Claims{Expires: exp, URI: uri(URIPath, Match{MatchPrefix, "/live/s1/"})}, nil, nil},
		{"catu path prefix other", Claims{Expires: exp, URI: uri(URIPath, Match{MatchPrefix, "/live/s2/"})}, nil, ErrURI},
		{"catu host exact", Claims{Expires: exp, URI: uri(URIHost, Match{MatchExact, "CDN.example.com"})}, nil, nil},
		{"catu scheme", Claims{Expires: exp, URI: uri(URIScheme, Match{MatchExact, "http"})}, nil, ErrURI},
		{"catu extension", Claims{Expires: exp, URI: uri(URIExtension, Match{MatchExact, ".m3u8"})}, nil, nil},
		{"catu extension m4s", Claims{Expires: exp, URI: uri(URIExtension, Match{MatchExact, ".m4s"})}, nil, ErrURI},
		{"catu stem", Claims{Expires: exp, URI: uri(URIStem, Match{MatchExact, "index"})}, nil, nil},
		{"catu filename suffix", Claims{Expires: exp, URI: uri(URIFilename, Match{MatchSuffix, ".m3u8"})}, nil, nil},
		{"catu parent", Claims{Expires: exp, URI: uri(URIParentPath, Match{MatchExact, "/live/s1"})}, nil, nil},
		{"catu contains", Claims{Expires: exp, URI: uri(URIPath, Match{MatchContains, "/s1/"})}, nil, nil},
		{"catu regex", Claims{Expires: exp, URI: uri(URIPath, Match{MatchRegex, `^/live/s[0-9]+/`})}, nil, nil},
		{"catu regex miss", Claims{Expires: exp, URI: uri(URIPath, Match{MatchRegex, `^/vod/`})}, nil, ErrURI},
		{"catu two matches both", Claims{Expires: exp, URI: uri(URIPath, Match{MatchPrefix, "/live/"}, Match{MatchSuffix, ".m3u8"})}, nil, nil},
		{"catu two matches one", Claims{Expires: exp, URI: uri(URIPath, Match{MatchPrefix, "/live/"}, Match{MatchSuffix, ".ts"})}, nil, ErrURI},
		{"catu sha256", Claims{Expires: exp, URI: uri(URIPath, Match{MatchSHA256, sha256hex(t, "/live/s1/index.m3u8")})}, nil, nil},
		{"catu query ignores token", Claims{Expires: exp, URI: uri(URIQuery, Match{MatchExact, "b=2&a=1"})},
			func(r *Request) { r.RawQuery = "a=1&CAT=xyz&b=2" }, nil},
		{"catu port default", Claims{Expires: exp, URI: uri(URIPort, Match{MatchExact, ""})},
			func(r *Request) { r.Host = "cdn.example.com:443" }, nil},
		{"catu port", Claims{Expires: exp, URI: uri(URIPort, Match{MatchExact, "8443"})},
			func(r *Request) { r.Host = "cdn.example.com:8443" }, nil},
		{"catreplay without cache", Claims{Expires: exp, Replay: ReplayProhibited, HasReplay: true}, nil, ErrUnsupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			if c.Issuer == "" {
				c.Issuer = "iss"
			}
			tok := mustSign(t, &c, k)
			r := baseReq()
			if tc.req != nil {
				tc.req(r)
			}
			_, _, err := v.Check(tok, r, now)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func sha256hex(t *testing.T, s string) string {
	d := sha256sum(s)
	return string(d[:])
}

func TestRotation(t *testing.T) {
	old, cur := hsKey(t, "2025"), &Key{ID: "2026", Alg: AlgHS256, Secret: []byte("another-32-byte-secret-for-tests")}
	v := mustVerifier(t, Options{Keys: []*Key{old, cur}})
	for _, k := range []*Key{old, cur} {
		if _, _, err := v.Check(mustSign(t, &Claims{Expires: now.Unix() + 9}, k), baseReq(), now); err != nil {
			t.Fatalf("kid %s: %v", k.ID, err)
		}
	}
	// A kid the verifier does not know.
	gone := &Key{ID: "2024", Alg: AlgHS256, Secret: symmetric256(t)}
	if _, _, err := v.Check(mustSign(t, &Claims{Expires: now.Unix() + 9}, gone), baseReq(), now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	// Right kid, wrong secret.
	forged := &Key{ID: "2026", Alg: AlgHS256, Secret: symmetric256(t)}
	if _, _, err := v.Check(mustSign(t, &Claims{Expires: now.Unix() + 9}, forged), baseReq(), now); !errors.Is(err, ErrSignature) {
		t.Fatalf("forged: %v", err)
	}
	// An ES256 token whose kid names an HMAC key.
	es := esKey(t, "2026")
	if _, _, err := v.Check(mustSign(t, &Claims{Expires: now.Unix() + 9}, es), baseReq(), now); !errors.Is(err, ErrSignature) {
		t.Fatalf("alg confusion: %v", err)
	}
}

func TestUnsupportedClaimsRefused(t *testing.T) {
	k := hsKey(t, "k1")
	v := mustVerifier(t, Options{Keys: []*Key{k}})
	for key, name := range unsupportedClaims {
		payload, _ := encMode.Marshal(map[int64]any{keyExp: now.Unix() + 9, key: []any{"SE"}})
		tok, err := signPayload(payload, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := v.Check(tok, baseReq(), now); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReplay(t *testing.T) {
	k := hsKey(t, "k1")
	rc := NewReplayCache(2)
	v := mustVerifier(t, Options{Keys: []*Key{k}, Replay: rc})
	once := mustSign(t, &Claims{Expires: now.Unix() + 60, ID: []byte("one"), Replay: ReplayProhibited, HasReplay: true}, k)
	if _, _, err := v.Check(once, baseReq(), now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Check(once, baseReq(), now); !errors.Is(err, ErrReplay) {
		t.Fatalf("second use: %v", err)
	}
	detect := mustSign(t, &Claims{Expires: now.Unix() + 60, ID: []byte("two"), Replay: ReplayDetect, HasReplay: true}, k)
	for i, want := range []bool{false, true} {
		_, reused, err := v.Check(detect, baseReq(), now)
		if err != nil || reused != want {
			t.Fatalf("use %d: reused %v err %v", i, reused, err)
		}
	}
	// Bounded: a third token evicts the one closest to expiry.
	third := mustSign(t, &Claims{Expires: now.Unix() + 30, ID: []byte("three"), Replay: ReplayProhibited, HasReplay: true}, k)
	if _, _, err := v.Check(third, baseReq(), now); err != nil {
		t.Fatal(err)
	}
	if rc.Evictions() != 1 {
		t.Fatalf("evictions %d", rc.Evictions())
	}
}

func TestRenew(t *testing.T) {
	for _, k := range []*Key{hsKey(t, "k1"), esKey(t, "e1")} {
		t.Run(k.Alg.String(), func(t *testing.T) {
			v := mustVerifier(t, Options{Keys: []*Key{k}, Issuer: "iss"})
			c := &Claims{Issuer: "iss", Expires: now.Unix() + 30, URI: []URIRule{{URIPath, []Match{{MatchPrefix, "/live/"}}}},
				Renewal: &Renewal{Type: RenewHeader, ExpAdd: 120, Deadline: 60, HasDeadline: true, HeaderName: "CTA-Common-Access-Token"}}
			tok, _, err := v.Check(mustSign(t, c, k), baseReq(), now)
			if err != nil {
				t.Fatal(err)
			}
			if !tok.ShouldRenew(now) || tok.ShouldRenew(now.Add(-time.Minute)) {
				t.Fatal("renewal window")
			}
			fresh, err := v.Renew(tok, now)
			if err != nil {
				t.Fatal(err)
			}
			nt, _, err := v.Check(fresh, baseReq(), now.Add(100*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if nt.Claims.Expires != now.Unix()+120 || len(nt.Claims.ID) != 16 || len(nt.Claims.URI) != 1 || nt.Claims.Renewal == nil {
				t.Fatalf("renewed %+v", nt.Claims)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	v := mustVerifier(t, Options{Keys: []*Key{hsKey(t, "k1")}})
	for name, tok := range map[string]string{
		"not base64":  "!!!",
		"empty cbor":  "",
		"too long":    strings.Repeat("A", MaxTokenLen+1),
		"int":         "AQ",
		"huge bstr":   base64.RawURLEncoding.EncodeToString([]byte{0x84, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
		"deep":        base64.RawURLEncoding.EncodeToString(append([]byte(strings.Repeat("\x81", 100)), 0)),
		"unknown tag": base64.RawURLEncoding.EncodeToString([]byte{0xd8, 0x63, 0x80}),
	} {
		_, err := v.Verify(tok)
		var e *Error
		if !errors.As(err, &e) || e.Status != 401 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func sha256sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// The @eyevinn/cat README's HTTP example: a CWT-tagged COSE_Mac0 (alg 5)
// with kid "akamai_key_hs256", MACed with RFC 8392's Symmetric256 key. The
// README shows it answered 401 "Token has expired"; so here (its nbf is
// even after its exp, so it is never good).
func TestReadmeHTTPExampleToken(t *testing.T) {
	const tok = "2D3RhEOhAQWhBFBha2FtYWlfa2V5X2hzMjU2U6MEGmfXP_YGGmfXQAsFGmfXQAtYINTT_KlOyhaV6NaSxFXkqJWfBagSkPkem10dysoA-C0w"
	v := mustVerifier(t, Options{Keys: []*Key{hsKey(t, "k1")}})
	if _, err := v.Verify(tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("other kid: %v", err)
	}
	v = mustVerifier(t, Options{Keys: []*Key{{ID: "akamai_key_hs256", Alg: AlgHS256, Secret: []byte("0123456789abcdef0123456789abcdef")}}})
	if _, err := v.Verify(tok); !errors.Is(err, ErrSignature) {
		t.Fatalf("wrong key: %v", err)
	}
	v = mustVerifier(t, Options{Keys: []*Key{hsKey(t, "akamai_key_hs256")}})
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Claims.Expires != 1742159862 {
		t.Fatalf("%+v", got.Claims)
	}
	if err := v.Validate(got, baseReq(), time.Unix(1742159862+60, 0)); !errors.Is(err, ErrExpired) {
		t.Fatalf("validate: %v", err)
	}
}
