package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/securelink"

	"github.com/edgecache/edgecache/internal/nginximport"
	"go.yaml.in/yaml/v3"
)

const seedConf = "../../internal/nginximport/testdata/seed.conf"

func TestImportNginxCLI(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("server {\n  listen 80;\n  location /hls/ { proxy_pass http://o/hls/;\n}\n"), 0o644)
	binaryAddr := filepath.Join(t.TempDir(), "binaddr.conf")
	os.WriteFile(binaryAddr, []byte("server {\n  location /hls/ {\n    proxy_pass http://o/hls/;\n    secure_link $arg_md5,$arg_expires;\n    secure_link_md5 \"$secure_link_expires$uri$binary_remote_addr k\";\n  }\n}\n"), 0o644)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string // parts of it
		stderr []string // parts of it; nil means empty
	}{
		{name: "the issue's seed config converts with no error", args: []string{"import-nginx", seedConf}, code: 0,
			stdout: []string{"prefix: /hls/", "origin: http://origin.example.com:80/hls/", "prefix: /dash/", "max_bytes: 1g", "404: 2s", `origin_host: "$host"`}},
		{name: "a refusal it cannot translate (keys kept from viewers): no config", args: []string{"import-nginx", "../../internal/nginximport/testdata/full.conf"}, code: 1,
			stderr: []string{"full.conf:69: location ~* ", "regex locations", "full.conf:70: location = /health: exact-match",
				"The config would serve requests nginx refused:\n  ../../internal/nginximport/testdata/full.conf:69: return 403: nginx answered 403 here (in location ~* \\.key$), and the imported config serves these requests\n",
				"no config printed: 1 of nginx's refusals could not be translated", "-allow-open"}},
		{name: "untranslated directives on stderr, one line each, with -allow-open", args: []string{"import-nginx", "-allow-open", "../../internal/nginximport/testdata/full.conf"}, code: 0,
			stdout: []string{"prefix: /live/", "- url: http://10.1.0.2:8088/live/\n        role: backup\n"},
			stderr: []string{"full.conf:69: location ~* ", "regex locations", "full.conf:70: location = /health: exact-match",
				"WARNING: -allow-open: the config serves requests nginx refused:\n  ../../internal/nginximport/testdata/full.conf:69: return 403"}},
		{name: "secure_link it cannot translate: no config", args: []string{"import-nginx", binaryAddr}, code: 1,
			stderr: []string{"binaddr.conf:4: secure_link $arg_md5,$arg_expires: WARNING: route /hls/ gets no auth and is OPEN to every viewer:", "binaddr.conf:5: secure_link_md5", "$binary_remote_addr is not supported", "no config printed: 2 of nginx's refusals"}},
		{name: "secure_link it cannot translate, with -allow-open: a warning, and the route says it is open", args: []string{"import-nginx", "-allow-open", binaryAddr}, code: 0,
			stdout: []string{"# WARNING: NOT PROTECTED.", "prefix: /hls/"},
			stderr: []string{"binaddr.conf:4: secure_link $arg_md5,$arg_expires: WARNING: route /hls/ gets no auth and is OPEN to every viewer:", "binaddr.conf:5: secure_link_md5", "$binary_remote_addr is not supported", "WARNING: -allow-open"}},
		{name: "secure_link translated", args: []string{"import-nginx", "../../internal/nginximport/testdata/securelink.conf"}, code: 0,
			stdout: []string{"auth:\n      scheme: secure_link\n      secure_link:\n        link: \"$arg_md5,$arg_expires\"\n        md5: \"$secure_link_expires$uri$remote_addr s3cr3t\"\n", `format: "escape=json {`}},
		{name: "no proxy_pass", args: []string{"import-nginx", "../../internal/nginximport/testdata/noproxy.conf"}, code: 1,
			stderr: []string{"noproxy.conf:3: location /: no proxy_pass", "edgecache: import-nginx ../../internal/nginximport/testdata/noproxy.conf: no location with a proxy_pass"}},
		{name: "unreadable", args: []string{"import-nginx", "/nonexistent/nginx.conf"}, code: 1, stderr: []string{"/nonexistent/nginx.conf", "no such file"}},
		{name: "syntax error names file and line", args: []string{"import-nginx", bad}, code: 1, stderr: []string{bad + `:5: unexpected end of file, expecting "}"`}},
		{name: "no file", args: []string{"import-nginx"}, code: 1, stderr: []string{"Usage: edgecache import-nginx", "give one nginx config file"}},
		{name: "its -h", args: []string{"import-nginx", "-h"}, code: 0, stderr: []string{"Usage: edgecache import-nginx"}},
		{name: "-h lists it", args: []string{"-h"}, code: 0, stderr: []string{"edgecache import-nginx nginx.conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, nil, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if tc.stderr == nil && stderr != "" {
				t.Errorf("stderr %q, want none", stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if code != 0 && stdout != "" {
				t.Errorf("a failure printed a config: %q", stdout)
			}
		})
	}
}

// TestImportedSeedServesTheSamePaths: the config imported from the
// issue's seed nginx config serves the same paths, with the same answers
// and the same origin requests, as deploy/edgecache.example.yaml, the
// hand translation of it, both with the origin replaced by a test server.
func TestImportedSeedServesTheSamePaths(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var originURL string
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/hls/live.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			fmt.Fprintf(w, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nseg-1.ts\n#EXTINF:2.0,\n%s/hls/seg-2.ts\n", originURL)
		case "/dash/live.mpd":
			w.Header().Set("Content-Type", "application/dash+xml")
			fmt.Fprintf(w, `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT4S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011"><BaseURL>%s/dash/</BaseURL><Period><AdaptationSet mimeType="video/mp4"><SegmentTemplate media="seg-$Number$.m4s" initialization="init.mp4" duration="2" startNumber="1"/><Representation id="v" bandwidth="100000"/></AdaptationSet></Period></MPD>`, originURL)
		case "/hls/seg-1.ts", "/hls/seg-2.ts", "/dash/init.mp4", "/dash/seg-1.m4s":
			w.Header().Set("Content-Type", "video/mp2t")
			io.WriteString(w, "media "+r.URL.Path)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	originURL = origin.URL
	withOrigin := func(b []byte) string {
		return strings.ReplaceAll(string(b), "http://origin.example.com:80", origin.URL)
	}

	example, err := os.ReadFile("../../deploy/edgecache.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := nginximport.ImportFile(seedConf)
	if err != nil || len(res.Untranslated) > 0 {
		t.Fatalf("seed import: %v, untranslated %v", err, res.Untranslated)
	}
	configs := map[string]string{
		"example": withOrigin(example),
		"import":  withOrigin(res.YAML),
	}
	paths := []string{"/hls/live.m3u8", "/hls/seg-1.ts", "/hls/seg-2.ts", "/dash/live.mpd", "/dash/init.mp4", "/dash/seg-1.m4s", "/hls/missing.ts", "/elsewhere/x.ts", "/hls/seg-1.ts"}
	type answer struct {
		status int
		body   string
	}
	results := map[string][]answer{}
	origins := map[string][]string{}
	for _, name := range []string{"example", "import"} {
		mu.Lock()
		seen = nil
		mu.Unlock()
		p := start(t, nil, "-config", writeConfig(t, configs[name]))
		for _, path := range paths {
			resp, err := http.Get("http://" + p.addr + path)
			if err != nil {
				t.Fatalf("%s %s: %v", name, path, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[name] = append(results[name], answer{resp.StatusCode, string(b)})
		}
		p.cmd.Process.Kill()
		p.cmd.Wait()
		mu.Lock()
		o := slices.Clone(seen)
		mu.Unlock()
		slices.Sort(o)
		origins[name] = slices.Compact(o) // prefetch may repeat or reorder
	}
	for i, path := range paths {
		e, im := results["example"][i], results["import"][i]
		if e != im {
			t.Errorf("%s: example config %d %q, imported %d %q", path, e.status, e.body, im.status, im.body)
		}
	}
	if !slices.Equal(origins["example"], origins["import"]) {
		t.Errorf("origin saw %v with the example, %v with the import", origins["example"], origins["import"])
	}
	// And what both serve is right: the routes reach the origin's paths,
	// playlists are rewritten to edge paths, the rest is 404.
	want := []int{200, 200, 200, 200, 200, 200, 404, 404, 200}
	for i, a := range results["import"] {
		if a.status != want[i] {
			t.Errorf("%s: %d, want %d", paths[i], a.status, want[i])
		}
	}
	if b := results["import"][0].body; strings.Contains(b, origin.URL) || !strings.Contains(b, "/hls/seg-2.ts") {
		t.Errorf("playlist not rewritten to edge paths:\n%s", b)
	}
	if b := results["import"][1].body; b != "media /hls/seg-1.ts" {
		t.Errorf("segment body %q", b)
	}
	for _, p := range []string{"/hls/live.m3u8", "/hls/seg-1.ts", "/dash/live.mpd", "/dash/init.mp4", "/hls/missing.ts"} {
		if !slices.Contains(origins["import"], p) {
			t.Errorf("origin never saw %s: %v", p, origins["import"])
		}
	}
}

// TestImportedSecureLinkRefusesAndServes: an nginx.conf with nginx's
// documented secure_link recipe, imported and run by the real binary,
// refuses an unsigned request (403), serves a link signed by `edgecache
// token sign` and one signed by auth/securelink (with the playlist's
// segments reachable through the links the edge writes into it), and
// answers 410 for an expired link and 403 for a tampered one or one
// signed for another path; the origin never sees a refused request nor
// a token.
func TestImportedSecureLinkRefusesAndServes(t *testing.T) {
	var mu sync.Mutex
	var seen []string // path?query the origin got
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RequestURI())
		mu.Unlock()
		switch r.URL.Path {
		case "/hls/live.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			io.WriteString(w, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nseg-1.ts\n#EXTINF:2.0,\nseg-2.ts\n")
		case "/hls/seg-1.ts", "/hls/seg-2.ts":
			w.Header().Set("Content-Type", "video/mp2t")
			io.WriteString(w, "media "+r.URL.Path)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()

	res, err := nginximport.ImportFile("../../internal/nginximport/testdata/securelink.conf")
	if err != nil || len(res.Untranslated) > 0 {
		t.Fatalf("import: %v, untranslated %v", err, res.Untranslated)
	}
	yml := strings.ReplaceAll(string(res.YAML), "http://origin.example.com:80", origin.URL)
	var cfg struct {
		Routes []struct {
			Auth auth.Config `yaml:"auth"`
		} `yaml:"routes"`
	}
	if err := yaml.Unmarshal([]byte(yml), &cfg); err != nil || len(cfg.Routes) != 1 || cfg.Routes[0].Auth.SecureLink == nil {
		t.Fatalf("imported config has no secure_link auth (%v):\n%s", err, yml)
	}
	md5Expr := cfg.Routes[0].Auth.SecureLink.MD5
	if !strings.Contains(md5Expr, "$remote_addr") || !strings.Contains(md5Expr, "s3cr3t") {
		t.Fatalf("md5 expression %q is not nginx's", md5Expr)
	}
	p := start(t, nil, "-config", writeConfig(t, yml))
	base := "http://" + p.addr

	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	link, err := securelink.Compile(securelink.Config{MD5: md5Expr})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(path string, expires int64) string {
		q, err := link.Sign(securelink.SignRequest{Path: path, Expires: expires, ClientIP: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		return base + path + "?" + q
	}
	out, err := exec.Command(binary, "token", "sign", "-scheme", "secure_link", "-md5", md5Expr,
		"-ttl", "1h", "-ip", "127.0.0.1", "-url", base+"/hls/live.m3u8").Output()
	if err != nil {
		t.Fatalf("edgecache token sign: %v", err)
	}
	cliSigned := strings.TrimSpace(string(out))
	future := time.Now().Add(time.Hour).Unix()

	mu.Lock()
	seen = nil
	mu.Unlock()
	for _, tc := range []struct {
		name, url string
		status    int
	}{
		{"unsigned", base + "/hls/live.m3u8", 403},
		{"unsigned segment", base + "/hls/seg-1.ts", 403},
		{"expired", sign("/hls/live.m3u8", time.Now().Add(-time.Minute).Unix()), 410},
		{"tampered hash", strings.Replace(sign("/hls/live.m3u8", future), "md5=", "md5=AA", 1), 403},
		{"signed for another path", strings.Replace(sign("/hls/other.m3u8", future), "/hls/other.m3u8", "/hls/live.m3u8", 1), 403},
		{"signed for a later expiry than sent", strings.Replace(sign("/hls/live.m3u8", future), strconv.FormatInt(future, 10), strconv.FormatInt(future+1, 10), 1), 403},
	} {
		if code, body := get(tc.url); code != tc.status {
			t.Errorf("%s: %s: %d %q, want %d", tc.name, tc.url, code, body, tc.status)
		}
	}
	mu.Lock()
	if len(seen) > 0 {
		t.Errorf("refused requests reached the origin: %v", seen)
	}
	mu.Unlock()

	for name, u := range map[string]string{"edgecache token sign": cliSigned, "securelink.Sign": sign("/hls/live.m3u8", future)} {
		code, body := get(u)
		if code != 200 || !strings.HasPrefix(body, "#EXTM3U") {
			t.Fatalf("%s: %s: %d %q, want the playlist", name, u, code, body)
		}
		// The segments carry links the edge derived for this viewer.
		var segs []string
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "seg-") {
				segs = append(segs, l)
			}
		}
		if len(segs) != 2 || !strings.Contains(segs[0], "md5=") {
			t.Fatalf("%s: playlist segments %q carry no link:\n%s", name, segs, body)
		}
		for _, s := range segs {
			if code, body := get(base + "/hls/" + s); code != 200 || !strings.HasPrefix(body, "media /hls/seg-") {
				t.Errorf("%s: segment %s: %d %q", name, s, code, body)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, "md5") || strings.Contains(s, "expires") {
			t.Errorf("the origin saw a token: %s", s)
		}
	}
}
