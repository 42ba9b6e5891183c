package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/auth/cat"
)

// Tokens minted by an independent CTA-5007 implementation, @eyevinn/cat
// (pinned in e2e/cat/package-lock.json), verified by ours, and ours
// validated by it: HMAC and ES256, two keys live, renewal both ways.

const (
	interopKey1 = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388" // RFC 8392 Symmetric256
	interopKey2 = "6b65792d74776f2d6b65792d74776f2d6b65792d74776f2d6b65792d74776f21"
)

func catDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "cat")
}

// catJS runs e2e/cat/interop.js and decodes its answer into out.
func catJS(t *testing.T, cmd string, arg any, out any) {
	t.Helper()
	node := needTool(t, "node")
	dir := catDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@eyevinn", "cat")); err != nil {
		t.Fatalf("@eyevinn/cat not installed in %s: run `make test-deps` (npm install there)", dir)
	}
	b, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, node, "interop.js", cmd, string(b))
	c.Dir = dir
	var stderr strings.Builder
	c.Stderr = &stderr
	res, err := c.Output()
	if err != nil {
		t.Fatalf("node interop.js %s: %v\n%s", cmd, err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("node interop.js %s: %v: %s", cmd, err, res)
	}
}

func hmacKey(t *testing.T, kid, h string) *cat.Key {
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return &cat.Key{ID: kid, Alg: cat.AlgHS256, Secret: b}
}

func interopReq(path, ip string) *cat.Request {
	return &cat.Request{Method: "GET", Scheme: "https", Host: "edge.example", Path: path,
		ClientIP: netip.MustParseAddr(ip), TokenParam: "CAT"}
}

func TestCATInteropTheirsVerifiedByOurs(t *testing.T) {
	v, err := cat.NewVerifier(cat.Options{Keys: []*cat.Key{hmacKey(t, "k1", interopKey1), hmacKey(t, "k2", interopKey2)}, Issuer: "eyevinn"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{
		"iss":    "eyevinn",
		"exp":    now.Unix() + 600,
		"catu":   map[string]any{"path": map[string]any{"prefix-match": "/live/"}, "extension": map[string]any{"exact-match": ".m3u8"}},
		"catnip": []string{"192.0.2.0/24", "2001:db8::/32"},
		"catm":   []string{"GET", "HEAD"},
	}
	for _, tc := range []struct {
		kid, key string
		cwtTag   bool
	}{
		{"k1", interopKey1, true},
		{"k1", interopKey1, false}, // the library's default encoding
		{"k2", interopKey2, true},  // the second live key
	} {
		var got struct{ Token string }
		catJS(t, "mint-mac", map[string]any{"kid": tc.kid, "key": tc.key, "claims": claims, "cwtTag": tc.cwtTag}, &got)
		tok, _, err := v.Check(got.Token, interopReq("/live/s1/index.m3u8", "192.0.2.44"), now)
		if err != nil {
			t.Fatalf("%s tag=%v: %v (%s)", tc.kid, tc.cwtTag, err, got.Token)
		}
		if tok.Key.ID != tc.kid {
			t.Fatalf("verified with %s, want %s", tok.Key.ID, tc.kid)
		}
		for name, r := range map[string]*cat.Request{
			"other path": interopReq("/vod/s1/index.m3u8", "192.0.2.44"),
			"other ext":  interopReq("/live/s1/seg.m4s", "192.0.2.44"),
			"other ip":   interopReq("/live/s1/index.m3u8", "198.51.100.1"),
		} {
			if _, _, err := v.Check(got.Token, r, now); err == nil {
				t.Errorf("%s tag=%v: %s accepted", tc.kid, tc.cwtTag, name)
			}
		}
		if _, _, err := v.Check(got.Token, interopReq("/live/s1/index.m3u8", "2001:db8::7"), now); err != nil {
			t.Errorf("ipv6 in range: %v", err)
		}
	}
	// A key we do not hold.
	var other struct{ Token string }
	catJS(t, "mint-mac", map[string]any{"kid": "k3", "key": interopKey2, "claims": claims, "cwtTag": true}, &other)
	if _, _, err := v.Check(other.Token, interopReq("/live/s1/index.m3u8", "192.0.2.44"), now); !errors.Is(err, cat.ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	// Their token with one byte of the MAC changed.
	var one struct{ Token string }
	catJS(t, "mint-mac", map[string]any{"kid": "k1", "key": interopKey1, "claims": claims, "cwtTag": true}, &one)
	bad := []byte(one.Token)
	if bad[len(bad)-2] == 'A' {
		bad[len(bad)-2] = 'B'
	} else {
		bad[len(bad)-2] = 'A'
	}
	if _, _, err := v.Check(string(bad), interopReq("/live/s1/index.m3u8", "192.0.2.44"), now); !errors.Is(err, cat.ErrSignature) {
		t.Fatalf("tampered: %v", err)
	}
}

func esKeyHex(t *testing.T) (*cat.Key, map[string]string) {
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pad := func(b []byte) string { return hex.EncodeToString(append(make([]byte, 32-len(b)), b...)) }
	return &cat.Key{ID: "es1", Alg: cat.AlgES256, Private: p, Public: &p.PublicKey},
		map[string]string{"d": pad(p.D.Bytes()), "x": pad(p.X.Bytes()), "y": pad(p.Y.Bytes())}
}

func TestCATInteropES256(t *testing.T) {
	k, hx := esKeyHex(t)
	now := time.Now()
	v, err := cat.NewVerifier(cat.Options{Keys: []*cat.Key{{ID: "es1", Alg: cat.AlgES256, Public: k.Public}}, Issuer: "eyevinn"})
	if err != nil {
		t.Fatal(err)
	}
	// Theirs, verified by ours (public key only).
	var got struct{ Token string }
	catJS(t, "mint-es256", map[string]any{"d": hx["d"], "kid": "es1", "claims": map[string]any{"iss": "eyevinn", "exp": now.Unix() + 600}}, &got)
	tok, _, err := v.Check(got.Token, interopReq("/live/a.m3u8", "192.0.2.1"), now)
	if err != nil {
		t.Fatalf("their ES256: %v (%s)", err, got.Token)
	}
	if tok.Claims.Expires != now.Unix()+600 {
		t.Fatalf("claims %+v", tok.Claims)
	}
	// Ours, verified by theirs.
	mine, err := cat.Sign(&cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 600, Subject: "viewer-1"}, k)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		OK     bool
		Error  string
		Claims map[string]any
	}
	catJS(t, "verify-es256", map[string]any{"token": untagCWT(t, mine), "x": hx["x"], "y": hx["y"]}, &res)
	if !res.OK || res.Claims["sub"] != "viewer-1" {
		t.Fatalf("our ES256 in theirs: %+v", res)
	}
}

// untagCWT strips the CWT tag (61) that @eyevinn/cat's Sign1 reader does
// not expect: its verify takes the COSE_Sign1 itself.
func untagCWT(t *testing.T, tok string) string {
	b, err := decodeB64URL(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 2 && b[0] == 0xd8 && b[1] == 0x3d {
		b = b[2:]
	}
	return encodeB64URL(b)
}

func TestCATInteropOursValidatedByTheirs(t *testing.T) {
	now := time.Now()
	k2 := hmacKey(t, "k2", interopKey2)
	tok, err := cat.Sign(&cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 600,
		URI: []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchPrefix, Value: "/live/"}}}}}, k2)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		OK     bool
		Error  string
		Claims map[string]any
		Kid    string
	}
	keys := map[string]string{"k1": interopKey1, "k2": interopKey2}
	catJS(t, "validate-mac", map[string]any{"keys": keys, "token": tok, "issuer": "eyevinn", "url": "https://edge.example/live/a.m3u8"}, &res)
	if !res.OK || res.Kid != "k2" {
		t.Fatalf("theirs refused ours: %+v", res)
	}
	catJS(t, "validate-mac", map[string]any{"keys": keys, "token": tok, "issuer": "eyevinn", "url": "https://edge.example/vod/a.m3u8"}, &res)
	if res.OK {
		t.Fatalf("theirs accepted ours on another path: %+v", res)
	}
	catJS(t, "validate-mac", map[string]any{"keys": map[string]string{"k1": interopKey1}, "token": tok, "issuer": "eyevinn"}, &res)
	if res.OK {
		t.Fatalf("theirs accepted ours without the key: %+v", res)
	}
}

func TestCATInteropRenewal(t *testing.T) {
	now := time.Now()
	k1 := hmacKey(t, "k1", interopKey1)
	v, err := cat.NewVerifier(cat.Options{Keys: []*cat.Key{k1}, Issuer: "eyevinn"})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{"k1": interopKey1}

	// Theirs renews ours: a CDN running @eyevinn/cat hands out a token
	// edgecache accepts.
	mine, err := cat.Sign(&cat.Claims{Issuer: "eyevinn", Expires: now.Unix() + 30,
		Renewal: &cat.Renewal{Type: cat.RenewHeader, ExpAdd: 600, Deadline: 60, HasDeadline: true}}, k1)
	if err != nil {
		t.Fatal(err)
	}
	var hr struct {
		Status  int
		Message string
		Headers map[string]string
	}
	catJS(t, "http", map[string]any{"keys": keys, "issuer": "eyevinn", "token": mine, "host": "edge.example", "path": "/live/a.m3u8"}, &hr)
	renewed := hr.Headers["cta-common-access-token"]
	if hr.Status != 200 || renewed == "" {
		t.Fatalf("their validator on ours: %+v", hr)
	}
	nt, _, err := v.Check(renewed, interopReq("/live/a.m3u8", "192.0.2.1"), now.Add(300*time.Second))
	if err != nil {
		t.Fatalf("their renewal in ours: %v", err)
	}
	if nt.Claims.Expires < now.Unix()+590 || nt.Claims.Renewal == nil {
		t.Fatalf("their renewal: %+v", nt.Claims)
	}

	// Ours renews theirs: the successor is good in their validator.
	var got struct{ Token string }
	catJS(t, "mint-mac", map[string]any{"kid": "k1", "key": interopKey1, "cwtTag": true, "claims": map[string]any{
		"iss": "eyevinn", "exp": now.Unix() + 30, "catr": map[string]any{"type": "header", "expadd": 600, "deadline": 60}}}, &got)
	tok, _, err := v.Check(got.Token, interopReq("/live/a.m3u8", "192.0.2.1"), now)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ShouldRenew(now) {
		t.Fatal("not in the renewal window")
	}
	succ, err := v.Renew(tok, now)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		OK     bool
		Error  string
		Claims map[string]any
	}
	catJS(t, "validate-mac", map[string]any{"keys": keys, "token": succ, "issuer": "eyevinn"}, &res)
	if !res.OK || res.Claims["exp"].(float64) != float64(now.Unix()+600) {
		t.Fatalf("our renewal in theirs: %+v", res)
	}
}

func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func encodeB64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
