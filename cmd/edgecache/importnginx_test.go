package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/edgecache/edgecache/internal/nginximport"
)

const seedConf = "../../internal/nginximport/testdata/seed.conf"

func TestImportNginxCLI(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.conf")
	os.WriteFile(bad, []byte("server {\n  listen 80;\n  location /hls/ { proxy_pass http://o/hls/;\n}\n"), 0o644)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string // parts of it
		stderr []string // parts of it; nil means empty
	}{
		{name: "the issue's seed config converts with no error", args: []string{"import-nginx", seedConf}, code: 0,
			stdout: []string{"prefix: /hls/", "origin: http://origin.example.com:80/hls/", "prefix: /dash/", "max_bytes: 1g", "404: 2s", `origin_host: "$host"`}},
		{name: "untranslated directives on stderr, one line each", args: []string{"import-nginx", "../../internal/nginximport/testdata/full.conf"}, code: 0,
			stdout: []string{"prefix: /live/"},
			stderr: []string{"full.conf:69: location ~* ", "regex locations", "full.conf:38: server 10.1.0.2:8088 backup: several origins: issue 16"}},
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
