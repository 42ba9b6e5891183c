package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/metrics/metricstest"
	"github.com/edgecache/edgecache/upstream"
)

// recOrigin is a test origin that records what it was asked and answers
// with fn.
type recOrigin struct {
	*httptest.Server
	seen counter
}

func newRecOrigin(t *testing.T, fn http.HandlerFunc) *recOrigin {
	t.Helper()
	o := &recOrigin{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.seen.inc(r.URL.Path)
		fn(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func refusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func segmentHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, body)
	}
}

func originsEdge(t *testing.T, urls []string, mod func(*Route, *Config)) *edge {
	t.Helper()
	return newEdge(t, "", func(c *Config) {
		r := Route{Prefix: "/"}
		for i, u := range urls {
			role := "primary"
			if i > 0 {
				role = "backup"
			}
			r.Origins = append(r.Origins, upstream.OriginConfig{URL: u + "/", Role: role})
		}
		c.Origin.FirstByteTimeout = 300 * time.Millisecond
		if mod != nil {
			mod(&r, c)
		}
		c.Routes = []Route{r}
	})
}

// A fill moves to the backup while no byte has gone to the viewer, for
// each way the primary can fail before its head; what each origin saw is
// part of the assertion.
func TestOriginsFailoverBeforeHead(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	for _, tc := range []struct {
		name    string
		primary func(t *testing.T) (url string, seen *recOrigin)
		outcome string
	}{
		{"connection refused", func(t *testing.T) (string, *recOrigin) { return refusedURL(t), nil }, "connect_error"},
		{"503 before headers", func(t *testing.T) (string, *recOrigin) {
			o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
			return o.URL, o
		}, "server_error"},
		{"hangs before headers", func(t *testing.T) (string, *recOrigin) {
			o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-hang:
				case <-r.Context().Done():
				}
			})
			return o.URL, o
		}, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pu, prim := tc.primary(t)
			backup := newRecOrigin(t, segmentHandler("from-backup"))
			e := originsEdge(t, []string{pu, backup.URL}, nil)
			resp, body := mustGet(t, e.URL+"/live/1.m4s")
			if resp.StatusCode != http.StatusOK || string(body) != "from-backup" {
				t.Fatalf("got %d %q, want the backup's segment", resp.StatusCode, body)
			}
			if prim != nil && prim.seen.get("/live/1.m4s") != 1 {
				t.Errorf("primary saw %d requests, want 1", prim.seen.get("/live/1.m4s"))
			}
			if n := backup.seen.get("/live/1.m4s"); n != 1 {
				t.Errorf("backup saw %d requests, want 1", n)
			}
			if v, _ := metricstest.Value(t, e.reg, "edgecache_origin_outcomes_total", map[string]string{"origin": pu + "/", "outcome": tc.outcome}); v != 1 {
				t.Errorf("outcome %s counted %v times, want 1", tc.outcome, v)
			}
		})
	}
}

// A primary that dies mid-body cannot be replaced for that response (bytes
// went to the viewer): the viewer sees a broken response, not a short one
// that looks whole, and the member is charged a body error.
func TestOriginsDiesMidBody(t *testing.T) {
	prim := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	})
	backup := newRecOrigin(t, segmentHandler("from-backup"))
	e := originsEdge(t, []string{prim.URL, backup.URL}, nil)
	resp, err := http.Get(e.URL + "/live/2.m4s")
	if err != nil {
		t.Fatal(err)
	}
	_, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr == nil {
		t.Fatal("the viewer read a whole body from an origin that died mid-body")
	}
	if backup.seen.get("/live/2.m4s") != 0 {
		t.Error("the backup was asked after bytes had gone to the viewer")
	}
	e.quiesce(t)
	if v, _ := metricstest.Value(t, e.reg, "edgecache_origin_outcomes_total", map[string]string{"origin": prim.URL + "/", "outcome": "body_error"}); v != 1 {
		t.Errorf("body_error counted %v times, want 1", v)
	}
}

// Once marked down, the primary is not asked again until its backoff ends.
func TestOriginsDownIsSkipped(t *testing.T) {
	prim := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) })
	backup := newRecOrigin(t, segmentHandler("b"))
	e := originsEdge(t, []string{prim.URL, backup.URL}, func(r *Route, _ *Config) {
		r.OriginsHealth = upstream.HealthConfig{Failures: 1, Backoff: time.Hour}
	})
	for i := range 3 {
		mustGet(t, fmt.Sprintf("%s/live/%d.m4s", e.URL, i))
	}
	n := 0
	for i := range 3 {
		n += prim.seen.get(fmt.Sprintf("/live/%d.m4s", i))
	}
	if n != 1 {
		t.Errorf("primary asked %d times, want once (then down for an hour)", n)
	}
}

// Media the first member lacks (404) is asked of the next, and a 404 does
// not count against the member's health.
func TestOriginsMedia404MovesOn(t *testing.T) {
	prim := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	backup := newRecOrigin(t, segmentHandler("b"))
	e := originsEdge(t, []string{prim.URL, backup.URL}, nil)
	resp, body := mustGet(t, e.URL+"/live/9.m4s")
	if resp.StatusCode != 200 || string(body) != "b" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if v := metricValue(t, e.reg, "edgecache_origin_up", "origin", prim.URL+"/"); v != 1 {
		t.Errorf("a 404 took the primary down")
	}
}

func memberPlaylist(first, n int, prefix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:%d\n", first)
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "#EXTINF:2.000,\n%s%d.m4s\n", prefix, i)
	}
	return b.String()
}

// playlistOrigin serves a media playlist whose window start the test sets,
// and segments under its own prefix.
type playlistOrigin struct {
	*recOrigin
	first  atomic.Int64
	n      int
	prefix string
}

func newPlaylistOrigin(t *testing.T, first, n int, prefix string) *playlistOrigin {
	po := &playlistOrigin{n: n, prefix: prefix}
	po.first.Store(int64(first))
	po.recOrigin = newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".m3u8") {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "max-age=1")
			io.WriteString(w, memberPlaylist(int(po.first.Load()), po.n, po.prefix))
			return
		}
		// Only the segments of its own window, under its own names.
		var n int
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		if _, err := fmt.Sscanf(name, po.prefix+"%d.m4s", &n); err != nil || n < int(po.first.Load()) || n >= int(po.first.Load())+po.n {
			http.NotFound(w, r)
			return
		}
		segmentHandler(po.prefix)(w, r)
	})
	return po
}

// With origins_freshest, a playlist comes from the member furthest along,
// and its segments are then fetched from that member first.
func TestOriginsFreshestPlaylistAndSegmentAffinity(t *testing.T) {
	a := newPlaylistOrigin(t, 10, 3, "s") // edge 12
	b := newPlaylistOrigin(t, 11, 3, "s") // edge 13: one segment ahead
	e := originsEdge(t, []string{a.URL, b.URL}, func(r *Route, _ *Config) { r.OriginsFreshest = true })
	resp, body := mustGet(t, e.URL+"/live/v.m3u8")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "s13.m4s") {
		t.Fatalf("got %d\n%s\nwant B's playlist (edge 13)", resp.StatusCode, body)
	}
	if a.seen.get("/live/v.m3u8") != 1 || b.seen.get("/live/v.m3u8") != 1 {
		t.Errorf("playlist asked of A %d and B %d times, want once each", a.seen.get("/live/v.m3u8"), b.seen.get("/live/v.m3u8"))
	}
	e.quiesce(t)
	resp, body = mustGet(t, e.URL+"/live/s13.m4s")
	if resp.StatusCode != 200 || string(body) != "s" {
		t.Fatalf("segment: %d %q", resp.StatusCode, body)
	}
	if n := a.seen.get("/live/s13.m4s"); n != 0 {
		t.Errorf("A was asked for B's segment %d times: segments go first to the member whose playlist listed them", n)
	}
}

// Two packagers that name segments each their own way publish two
// streams: the freshest rule does not flip between them, the first in
// order keeps the playlist.
func TestOriginsFreshestOnlyWithinOneStream(t *testing.T) {
	a := newPlaylistOrigin(t, 10, 3, "a") // edge 12
	b := newPlaylistOrigin(t, 20, 3, "b") // edge 22, other names
	e := originsEdge(t, []string{a.URL, b.URL}, func(r *Route, _ *Config) { r.OriginsFreshest = true })
	_, body := mustGet(t, e.URL+"/live/v.m3u8")
	if !strings.Contains(string(body), "a12.m4s") {
		t.Fatalf("got\n%s\nwant the primary's playlist: B's is another stream", body)
	}
}

// The freshest member dies and the other lags: the edge never serves a
// playlist behind the one it served (the sanity gate keeps the last good
// one), then follows the survivor once it has caught up.
func TestOriginsNeverBackwardsAcrossMembers(t *testing.T) {
	a := newPlaylistOrigin(t, 10, 3, "s") // edge 12
	b := newPlaylistOrigin(t, 12, 3, "s") // edge 14
	e := originsEdge(t, []string{a.URL, b.URL}, func(r *Route, _ *Config) { r.OriginsFreshest = true })
	_, body := mustGet(t, e.URL+"/live/v.m3u8")
	if !strings.Contains(string(body), "s14.m4s") {
		t.Fatalf("first playlist:\n%s\nwant B's (edge 14)", body)
	}
	b.CloseClientConnections()
	b.Listener.Close()
	e.quiesce(t)
	// Expire the served copy (max-age=1), then refresh from A alone.
	time.Sleep(1100 * time.Millisecond)
	_, body = mustGet(t, e.URL+"/live/v.m3u8")
	if !strings.Contains(string(body), "s14.m4s") {
		t.Fatalf("after B died the edge served a playlist behind the last:\n%s", body)
	}
	a.first.Store(13) // A catches up and passes: edge 15
	e.quiesce(t)
	time.Sleep(1100 * time.Millisecond)
	_, body = mustGet(t, e.URL+"/live/v.m3u8")
	if !strings.Contains(string(body), "s15.m4s") {
		t.Fatalf("A moved on to 15 but the edge serves:\n%s", body)
	}
}

// Hash mode: every key goes to the same shield, each shield holds a
// share, and a shield that dies hands its keys to the others.
func TestOriginsHashOverShields(t *testing.T) {
	s1 := newRecOrigin(t, segmentHandler("1"))
	s2 := newRecOrigin(t, segmentHandler("2"))
	e := originsEdge(t, []string{s1.URL, s2.URL}, func(r *Route, _ *Config) {
		r.OriginsMode = upstream.ModeHash
		for i := range r.Origins {
			r.Origins[i].Role = "primary"
		}
	})
	got := map[string]string{}
	for i := range 40 {
		p := fmt.Sprintf("/live/%d.m4s", i)
		_, body := mustGet(t, e.URL+p)
		got[p] = string(body)
	}
	n1 := 0
	for p, s := range got {
		if s == "1" {
			n1++
			if s2.seen.get(p) != 0 {
				t.Errorf("%s went to both shields", p)
			}
		}
	}
	if n1 == 0 || n1 == 40 {
		t.Fatalf("shield 1 got %d of 40 keys: hashing does not spread", n1)
	}
	s1.CloseClientConnections()
	s1.Listener.Close()
	for i := 40; i < 50; i++ {
		resp, body := mustGet(t, fmt.Sprintf("%s/live/%d.m4s", e.URL, i))
		if resp.StatusCode != 200 || string(body) != "2" {
			t.Fatalf("with shield 1 dead: %d %q", resp.StatusCode, body)
		}
	}
}

// Two edges whose origin lists name the members in different orders serve
// byte-identical playlists: nothing replica- or origin-specific survives
// the rewrite, even absolute URIs naming the member that sent them.
func TestOriginsIdenticalPlaylistsOnTwoEdges(t *testing.T) {
	var a, b *recOrigin
	serve := func(self **recOrigin) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "max-age=10")
			fmt.Fprintf(w, "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2,\n%s/live/5.m4s\n#EXTINF:2,\n6.m4s\n", (*self).URL)
		}
	}
	a = newRecOrigin(t, serve(&a))
	b = newRecOrigin(t, serve(&b))
	e1 := originsEdge(t, []string{a.URL, b.URL}, nil)
	e2 := originsEdge(t, []string{b.URL, a.URL}, nil)
	_, p1 := mustGet(t, e1.URL+"/live/v.m3u8")
	_, p2 := mustGet(t, e2.URL+"/live/v.m3u8")
	if string(p1) != string(p2) {
		t.Fatalf("edges differ:\n%s\n---\n%s", p1, p2)
	}
	if strings.Contains(string(p1), "127.0.0.1") {
		t.Errorf("an origin address survived the rewrite:\n%s", p1)
	}
}

func TestOriginsConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Route
		want string
	}{
		{"both", Route{Prefix: "/", Origin: "http://a/", Origins: []upstream.OriginConfig{{URL: "http://b/"}}}, "both given"},
		{"mode without origins", Route{Prefix: "/", Origin: "http://a/", OriginsMode: upstream.ModeHash}, "need origins"},
		{"bad member", Route{Prefix: "/", Origins: []upstream.OriginConfig{{URL: "ftp://b/"}}}, "origins"},
		{"member with a query", Route{Prefix: "/", Origins: []upstream.OriginConfig{{URL: "http://b/?x=1"}}}, "query"},
		{"bad mode", Route{Prefix: "/", Origins: []upstream.OriginConfig{{URL: "http://b/"}}, OriginsMode: "random"}, "mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Routes = []Route{tc.r}
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// Reload keeps a set whose origins did not change (and what it learned
// of their health) and closes one that went away.
func TestOriginsReloadKeepsHealth(t *testing.T) {
	checkGoroutines(t)
	prim := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "x", 503) })
	backup := newRecOrigin(t, segmentHandler("b"))
	e := originsEdge(t, []string{prim.URL, backup.URL}, func(r *Route, _ *Config) {
		r.OriginsHealth = upstream.HealthConfig{Failures: 1, Backoff: time.Hour, CheckPath: "/healthz", CheckInterval: time.Hour}
	})
	mustGet(t, e.URL+"/live/1.m4s")
	cfg := e.p.Config()
	cfg.Classes = nil
	if _, err := e.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	mustGet(t, e.URL+"/live/2.m4s")
	if n := prim.seen.get("/live/2.m4s"); n != 0 {
		t.Errorf("after a reload the primary was asked again (%d): its health was forgotten", n)
	}
	cfg.Routes = []Route{{Prefix: "/", Origin: backup.URL + "/"}}
	if _, err := e.p.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.p.origins.all()); n != 0 {
		t.Errorf("%d sets still running after their route lost its origins", n)
	}
}

// A request passed through uncached (a method the cache does not serve)
// goes to a healthy member, not to the first one listed when it is down.
func TestOriginsPassThroughSkipsDownMember(t *testing.T) {
	backup := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	e := originsEdge(t, []string{refusedURL(t), backup.URL}, nil)
	mustGet(t, e.URL+"/live/1.m4s") // marks the primary down
	req, _ := http.NewRequest(http.MethodOptions, e.URL+"/live/x", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || backup.seen.get("/live/x") != 1 {
		t.Fatalf("OPTIONS got %d, backup saw %d", resp.StatusCode, backup.seen.get("/live/x"))
	}
}

// A request passed through uncached moves to the next member as far as
// that is safe: any request whose connection was refused (nothing was
// sent); an idempotent one also on a 5xx before any byte went to the
// viewer; never a POST the primary answered, even with a 5xx.
func TestOriginsPassThroughRetries(t *testing.T) {
	busy := func(t *testing.T) *recOrigin {
		return newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "busy", http.StatusServiceUnavailable)
		})
	}
	private := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "private")
		io.WriteString(w, "backup:"+r.Method+":"+string(b))
	}
	for _, tc := range []struct {
		name       string
		method     string
		body       string
		primary    func(t *testing.T) (string, *recOrigin)
		wantStatus int
		wantBody   string
		backupSaw  int
	}{
		{"GET for one viewer, primary refuses", http.MethodGet, "", func(t *testing.T) (string, *recOrigin) { return refusedURL(t), nil }, 200, "backup:GET:", 1},
		{"GET for one viewer, primary 503", http.MethodGet, "", func(t *testing.T) (string, *recOrigin) { o := busy(t); return o.URL, o }, 200, "backup:GET:", 1},
		{"POST, primary refuses", http.MethodPost, "form", func(t *testing.T) (string, *recOrigin) { return refusedURL(t), nil }, 200, "backup:POST:form", 1},
		{"POST, primary 503: not repeated", http.MethodPost, "form", func(t *testing.T) (string, *recOrigin) { o := busy(t); return o.URL, o }, 503, "busy\n", 0},
		{"PUT, primary 503: idempotent", http.MethodPut, "x", func(t *testing.T) (string, *recOrigin) { o := busy(t); return o.URL, o }, 200, "backup:PUT:x", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pu, prim := tc.primary(t)
			backup := newRecOrigin(t, private)
			e := originsEdge(t, []string{pu, backup.URL}, func(r *Route, c *Config) {
				r.OriginsHealth.Failures = 100 // keep the primary first in order
			})
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, e.URL+"/live/api", body)
			if tc.method == http.MethodGet {
				req.Header.Set("Authorization", "Bearer viewer") // a response for this viewer alone
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || string(got) != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, got, tc.wantStatus, tc.wantBody)
			}
			if n := backup.seen.get("/live/api"); n != tc.backupSaw {
				t.Errorf("backup saw %d requests, want %d", n, tc.backupSaw)
			}
			if prim != nil && prim.seen.get("/live/api") != 1 {
				t.Errorf("primary saw %d requests, want 1", prim.seen.get("/live/api"))
			}
		})
	}
}

func mpdAt(publish string) string {
	return `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" publishTime="` + publish +
		`" availabilityStartTime="2026-01-01T00:00:00Z" minimumUpdatePeriod="PT1S" profiles="urn:mpeg:dash:profile:isoff-live:2011"><Period id="0" start="PT0S"></Period></MPD>`
}

// The member that served the newest MPD dies and the other has an older
// one (ISO/IEC 23009-1 5.4.1: an update is never older): the edge keeps
// serving the newer MPD instead of taking viewers back.
func TestOriginsMPDNeverBackwards(t *testing.T) {
	serve := func(publish string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/dash+xml")
			w.Header().Set("Cache-Control", "max-age=1")
			io.WriteString(w, mpdAt(publish))
		}
	}
	a := newRecOrigin(t, serve("2026-01-01T00:10:02Z"))
	b := newRecOrigin(t, serve("2026-01-01T00:10:00Z"))
	e := originsEdge(t, []string{a.URL, b.URL}, nil)
	_, body := mustGet(t, e.URL+"/live/m.mpd")
	if !strings.Contains(string(body), "00:10:02Z") {
		t.Fatalf("first MPD:\n%s", body)
	}
	a.CloseClientConnections()
	a.Listener.Close()
	e.quiesce(t)
	time.Sleep(1100 * time.Millisecond) // past max-age=1
	_, body = mustGet(t, e.URL+"/live/m.mpd")
	if !strings.Contains(string(body), "00:10:02Z") {
		t.Fatalf("after A died the edge served an older MPD:\n%s", body)
	}
	if b.seen.get("/live/m.mpd") == 0 {
		t.Error("the refresh never reached B")
	}
}

// Two tiers: edges fill from two shields by hash, the shields from the
// origin. Age carries through both tiers (RFC 9111 4.2.3: each adds its own
// resident time to what it got), the origin's request carries both tiers
// in Via (loop detection), and each object reaches the origin once however
// many edges ask.
func TestOriginsTwoTiers(t *testing.T) {
	var via atomic.Value
	origin := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		via.Store(strings.Join(r.Header.Values("Via"), ","))
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Age", "30")
		io.WriteString(w, "seg")
	})
	var shields []string
	for i := range 2 {
		s := newEdge(t, origin.URL+"/", func(c *Config) { c.ServerName = fmt.Sprintf("shield%d", i) })
		shields = append(shields, s.URL)
	}
	var edges []*edge
	for i := range 3 {
		e := originsEdge(t, shields, func(r *Route, c *Config) {
			c.ServerName = fmt.Sprintf("edge%d", i)
			r.OriginsMode = upstream.ModeHash
			for j := range r.Origins {
				r.Origins[j].Role = "primary"
			}
		})
		edges = append(edges, e)
	}
	for i := range 5 {
		p := fmt.Sprintf("/live/%d.m4s", i)
		for _, e := range edges {
			resp, body := mustGet(t, e.URL+p)
			if string(body) != "seg" {
				t.Fatalf("%s: %q", p, body)
			}
			if age, _ := strconv.Atoi(resp.Header.Get("Age")); age < 30 {
				t.Errorf("%s: Age %q after two tiers, want at least the origin's 30", p, resp.Header.Get("Age"))
			}
			e.quiesce(t)
		}
		if n := origin.seen.get(p); n != 1 {
			t.Errorf("%s reached the origin %d times from 3 edges and 2 shields, want once", p, n)
		}
	}
	if v, _ := via.Load().(string); !strings.Contains(v, "edge") || !strings.Contains(v, "shield") {
		t.Errorf("origin saw Via %q, want both tiers named", v)
	}
}
