package cat

import (
	"encoding/base64"
	"errors"
	"runtime"
	"testing"
	"time"
)

func fuzzSeeds(f *testing.F) (*Verifier, *Key) {
	k := hsKey(f, "k1")
	v := mustVerifier(f, Options{Keys: []*Key{k, esKey(f, "e1")}, CacheSize: 8})
	for _, c := range []*Claims{
		{Expires: now.Unix() + 60},
		{Issuer: "i", Audience: []string{"a", "b"}, ID: []byte("x"), Methods: []string{"GET"}, Version: 1},
		{URI: []URIRule{{URIPath, []Match{{MatchRegex, "^/a"}, {MatchPrefix, "/"}}}, {URIHost, []Match{{MatchSHA256, "01234567890123456789012345678901"}}}}},
		{Renewal: &Renewal{Type: RenewCookie, ExpAdd: 10, CookieParams: []string{"Secure"}}, Replay: ReplayDetect, HasReplay: true},
	} {
		tok, err := Sign(c, k)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := decodeBase64(tok)
		f.Add(b)
	}
	for _, s := range []string{
		"0YRDoQEEoQRMU3ltbWV0cmljMjU2eKZkOTAxMDNhNzAxNzU2MzZmNjE3MDNhMmYyZjYxNzMyZTY1Nzg2MTZkNzA2YzY1MmU2MzZmNmQwMjY1NmE2ZjZlNjE3MzAzNzgxODYzNmY2MTcwM2EyZjJmNmM2OTY3Njg3NDJlNjU3ODYxNmQ3MDZjNjUyZTYzNmY2ZDA0MWE1NjEyYWViMDA1MWE1NjEwZDlmMDA2MWE1NjEwZDlmMDA3NDIwYjcxSKuCk/+kFmlY",
		"2D3RhEOhAQWhBEJrMVg3pgFnZXlldmlubgQaaxRFsRkBN4HYNIIIRAoAAAAZATihA6EBZi9saXZlLxkBOYFjR0VUGQE2AVggmZRuWDNTcJmJcGk8bWamEbwACx52lY-XR3p_sdtPpeE",
	} {
		b, _ := decodeBase64(s)
		f.Add(b)
	}
	f.Add([]byte{0x84, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return v, k
}

// FuzzVerify: no input panics, and every refusal is an *Error.
func FuzzVerify(f *testing.F) {
	v, _ := fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		tok := base64.RawURLEncoding.EncodeToString(b)
		got, err := v.Verify(tok)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		_ = v.Validate(got, &Request{Method: "GET", Path: "/a/b.m3u8", RawQuery: "a=1"}, time.Unix(0, 0))
	})
}

// FuzzClaims: claims that pass the MAC (as an issuer's bug might write
// them) still cannot crash the edge.
func FuzzClaims(f *testing.F) {
	v, k := fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok, err := signPayload(payload, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) > MaxTokenLen {
			return
		}
		got, err := v.Verify(tok)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("untyped error %v", err)
			}
			if errors.Is(err, ErrSignature) || errors.Is(err, ErrUnknownKey) {
				t.Fatalf("our own signature refused: %v", err)
			}
			return
		}
		_ = v.Validate(got, &Request{Method: "GET", Path: "/a/b.m3u8", RawQuery: "a=1"}, time.Unix(0, 0))
		if got.Claims.Renewal != nil {
			if _, err := v.Renew(got, now); err != nil {
				t.Fatalf("renew: %v", err)
			}
		}
	})
}

// A header that claims a huge length must not make the parser allocate
// it: the allocation stays that of a small token.
func TestHugeClaimedLengthBounded(t *testing.T) {
	v := mustVerifier(t, Options{Keys: []*Key{hsKey(t, "k1")}, CacheSize: 1})
	inputs := [][]byte{
		{0xd8, 0x3d, 0xd1, 0x84, 0x5b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00}, // bstr of 64 GiB
		{0x9b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00},                         // array of 2^36
		{0xbb, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00},                         // map of 2^36
		{0x84, 0x40, 0xa0, 0x5a, 0x7f, 0xff, 0xff, 0xff, 0x40},                         // payload of 2 GiB
	}
	for _, in := range inputs {
		tok := base64.RawURLEncoding.EncodeToString(in)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			_, _ = v.Verify(tok)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 64<<10 {
			t.Errorf("%x: %d bytes allocated per parse", in, per)
		}
		if _, err := v.Verify(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", in, err)
		}
	}
}
