package e2e

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/cat"
	"github.com/edgecache/edgecache/auth/securelink"
	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/proxy"
)

const e2eKey = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388"

// gated starts an edge in front of the stack's packager whose one route
// checks tokens with cfg, as `auth:` in a config file does.
func gated(t *testing.T, s *stack, cfg auth.Config) string {
	t.Helper()
	deps := auth.Deps{LookupEnv: func(k string) (string, bool) {
		return map[string]string{"K": e2eKey, "SL": "s3cret"}[k], true
	}}
	edgeURL, _, _ := startEdge(t, func(c *proxy.Config) {
		c.Routes = []proxy.Route{{Prefix: "/", Origin: s.pk.URL, Auth: &cfg}}
	}, "", proxy.WithAuthDeps(deps))
	return edgeURL
}

func catCfg() auth.Config {
	return auth.Config{Scheme: "cat", CAT: &auth.CATConfig{Issuer: "e2e", Keys: []auth.KeyConfig{{ID: "k1", Alg: "HS256", KeyEnv: "K"}}}}
}

func mintCAT(t *testing.T, c *cat.Claims) string {
	t.Helper()
	k, err := auth.ParseKey("k1", "HS256", e2eKey)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cat.Sign(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokenisedStreamPlays: hls.js, dash.js and ffmpeg play a stream whose
// token is only on the playlist URL given to them (CAT and secure_link);
// the same URL with a wrong signature, an expired token, a token for
// another path or for another IP range is refused.
func TestTokenisedStreamPlays(t *testing.T) {
	s := startStack(t, origin.Config{}, true)
	waitPlaylist(t, s.edgeURL+"/hls/demo.m3u8", "EXT-X-STREAM-INF", 20*time.Second)
	catURL := gated(t, s, catCfg())
	now := time.Now()
	good := mintCAT(t, &cat.Claims{Issuer: "e2e", Expires: now.Add(10 * time.Minute).Unix(),
		URI:   []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchRegex, Value: `^/(hls|dash)/demo`}}}},
		NetIP: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})

	t.Run("refusals", func(t *testing.T) {
		raw, err := decodeB64URL(good)
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-1] ^= 1 // one bit of the MAC
		bad := encodeB64URL(raw)
		for name, tc := range map[string]struct {
			tok  string
			want int
		}{
			"good":            {good, 200},
			"none":            {"", 401},
			"wrong signature": {bad, 403},
			"expired":         {mintCAT(t, &cat.Claims{Issuer: "e2e", Expires: now.Add(-time.Minute).Unix()}), 403},
			"other path":      {mintCAT(t, &cat.Claims{Issuer: "e2e", Expires: now.Add(time.Minute).Unix(), URI: []cat.URIRule{{Component: cat.URIPath, Matches: []cat.Match{{Type: cat.MatchPrefix, Value: "/vod/"}}}}}), 403},
			"other ip range":  {mintCAT(t, &cat.Claims{Issuer: "e2e", Expires: now.Add(time.Minute).Unix(), NetIP: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}), 403},
		} {
			u := catURL + "/hls/demo.m3u8"
			if tc.tok != "" {
				u += "?CAT=" + tc.tok
			}
			if got := status(t, u); got != tc.want {
				t.Errorf("%s: %d, want %d", name, got, tc.want)
			}
		}
	})

	t.Run("ffmpeg", func(t *testing.T) {
		ffmpeg := needTool(t, "ffmpeg")
		for _, p := range []string{"/hls/demo.m3u8", "/dash/demo.mpd"} {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
				"-i", catURL+p+"?CAT="+good, "-t", "4", "-f", "null", "-").CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("ffmpeg %s: %v\n%s", p, err, out)
			}
		}
	})

	for _, tc := range []struct{ player, path string }{
		{"hls", "/hls/demo.m3u8"},
		{"dash", "/dash/demo.mpd"},
	} {
		t.Run(tc.player, func(t *testing.T) {
			res := playUntil(t, tc.player, catURL+tc.path+"?CAT="+good, 10*time.Second, false)
			if len(res.Fatal) > 0 {
				t.Fatalf("fatal player errors: %v (console %v)", res.Fatal, res.Console)
			}
			if res.PlayedSeconds < 10 {
				t.Fatalf("currentTime advanced %.1fs of 10 s before the failsafe (console %v)", res.PlayedSeconds, res.Console)
			}
		})
	}

	t.Run("secure_link hls.js", func(t *testing.T) {
		const md5 = "$secure_link_expires$uri$remote_addr $secure_link_secret"
		slURL := gated(t, s, auth.Config{Scheme: "secure_link", SecureLink: &auth.SecureLinkConfig{MD5: md5, SecretEnv: "SL", SegmentGrace: 30 * time.Second}})
		l, err := securelink.Compile(securelink.Config{MD5: md5, Secret: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		exp := now.Add(10 * time.Minute).Unix()
		q, _ := l.Sign(securelink.SignRequest{Path: "/hls/demo.m3u8", Expires: exp, ClientIP: netip.MustParseAddr("127.0.0.1")})
		if got := status(t, slURL+"/hls/demo.m3u8?"+strings.Replace(q, "expires="+strconv.FormatInt(exp, 10), "expires="+strconv.FormatInt(exp+1, 10), 1)); got != 403 {
			t.Errorf("altered expiry: %d", got)
		}
		old, _ := l.Sign(securelink.SignRequest{Path: "/hls/demo.m3u8", Expires: now.Add(-time.Minute).Unix(), ClientIP: netip.MustParseAddr("127.0.0.1")})
		if got := status(t, slURL+"/hls/demo.m3u8?"+old); got != 410 {
			t.Errorf("expired link: %d", got)
		}
		res := playUntil(t, "hls", slURL+"/hls/demo.m3u8?"+q, 10*time.Second, false)
		if len(res.Fatal) > 0 || res.PlayedSeconds < 10 {
			t.Fatalf("played %.1fs of 10 s before the failsafe, fatal %v (console %v)", res.PlayedSeconds, res.Fatal, res.Console)
		}
	})
}
