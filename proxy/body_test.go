package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/metrics/metricstest"
)

// A request body the viewer sends badly (malformed chunking, longer than
// client.max_body_bytes, stalled past client.body_timeout, cut off) is the
// viewer's fault: it is answered 400, 413 or 408 with the connection
// closed, and it never counts against an origin's health. Before this, a
// handful of malformed POSTs marked every member of a route down (and
// answered 502), so anyone could steer a shield tier's affinity or page
// its operators.
func TestViewerBodyIsNotTheOriginsFault(t *testing.T) {
	head := "POST /live/api HTTP/1.1\r\nHost: edge.test\r\n"
	for _, tc := range []struct {
		name string
		raw  string
		// halfClose ends the viewer's side after raw (a viewer gone
		// mid-body), keeping the connection open to read the answer.
		halfClose  bool
		wantStatus int
		// originSees: whether the origin may have been sent the request's
		// head (a declared length over the limit is refused at the door).
		originSees bool
	}{
		{"malformed chunk size", head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", false, 400, true},
		{"chunk extension without end", head + "Transfer-Encoding: chunked\r\n\r\n5;" + strings.Repeat("a", 8<<10) + "\r\nhello\r\n0\r\n\r\n", false, 400, true},
		{"chunked body over the limit", head + "Transfer-Encoding: chunked\r\n\r\n800\r\n" + strings.Repeat("b", 0x800) + "\r\n0\r\n\r\n", false, 413, true},
		{"declared length over the limit", head + "Content-Length: 2048\r\n\r\n" + strings.Repeat("c", 2048), false, 413, false},
		{"body stalls", head + "Content-Length: 10\r\n\r\nabc", false, 408, true},
		{"viewer gone mid-body", head + "Content-Length: 10\r\n\r\nabc", true, 400, true},
	} {
		for _, members := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/%d origins", tc.name, members), func(t *testing.T) {
				testViewerBody(t, members, tc.raw, tc.halfClose, tc.wantStatus, tc.originSees)
			})
		}
	}
}

func testViewerBody(t *testing.T, members int, raw string, halfClose bool, want int, originSees bool) {
	handler := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			// What the edge does with an answer to a body it could
			// not send whole: a 200 here would reach the viewer if
			// the edge passed it on.
			return
		}
		w.Header().Set("Cache-Control", "private")
		io.WriteString(w, "got "+string(b))
	}
	primary, backup := newRecOrigin(t, handler), newRecOrigin(t, handler)
	limits := func(c *Config) {
		c.Client.MaxBodyBytes = 1 << 10
		c.Client.BodyTimeout = 200 * time.Millisecond
	}
	var e *edge
	if members == 1 {
		e = newEdge(t, primary.URL, limits)
	} else {
		e = originsEdge(t, []string{primary.URL, backup.URL}, func(r *Route, c *Config) {
			r.OriginsHealth.Failures = 1 // one failure would mark a member down
			limits(c)
		})
	}
	addr := e.Listener.Addr().String()
	resp, got, closed := bodyExchange(t, addr, raw, halfClose)
	if resp == nil || resp.StatusCode != want {
		if resp != nil {
			got = resp.Status + " " + got
		}
		t.Fatalf("got %q, want %d", got, want)
	}
	if !closed {
		t.Errorf("the connection stayed open after a %d for a bad body", want)
	}
	if !originSees && primary.seen.get("/live/api")+backup.seen.get("/live/api") != 0 {
		t.Errorf("the origin was asked for a body refused at the door")
	}
	// One origin has no health to keep; with two, neither may be charged.
	for _, o := range []*recOrigin{primary, backup}[:2*(members-1)] {
		for _, out := range []string{"server_error", "timeout", "connect_error", "body_error"} {
			if v, _ := metricstest.Value(t, e.reg, "edgecache_origin_outcomes_total", map[string]string{"origin": o.URL + "/", "outcome": out}); v != 0 {
				t.Errorf("origin %s was charged %v %s for the viewer's body", o.URL, v, out)
			}
		}
		if v, _ := metricstest.Value(t, e.reg, "edgecache_origin_up", map[string]string{"origin": o.URL + "/"}); v != 1 {
			t.Errorf("origin %s marked down by the viewer's body", o.URL)
		}
	}
	// A good body of exactly the limit still goes through, to the
	// primary.
	resp, body := postBody(t, e.URL+"/live/good", strings.Repeat("d", 1<<10))
	if resp.StatusCode != http.StatusOK || body != "got "+strings.Repeat("d", 1<<10) {
		t.Fatalf("a body at the limit: %d %.40q", resp.StatusCode, body)
	}
	if primary.seen.get("/live/good") != 1 {
		t.Errorf("the body at the limit did not go to the primary")
	}
}

// bodyExchange writes raw to addr (then half-closes when asked) and reads
// what comes back until the edge closes the connection; the wait is as
// long as the liveness bound (the stalled body's answer comes only after
// client.body_timeout), and a connection left open fails the test then.
func bodyExchange(t *testing.T, addr, raw string, halfClose bool) (resp *http.Response, body string, closed bool) {
	t.Helper()
	c := rawDial(t, addr, raw)
	defer c.Close()
	if halfClose {
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	resps, bodies, closed := readResponses(c, 30*time.Second)
	if len(resps) == 0 {
		return nil, "", closed
	}
	return resps[0], bodies[0], closed
}

func postBody(t *testing.T, url, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestViewerBodyNoLimit: client.max_body_bytes 0 is no limit, as nginx's
// client_max_body_size 0; a body past the default (1 MiB) goes through
// whole, declared or chunked.
func TestViewerBodyNoLimit(t *testing.T) {
	origin := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	e := newEdge(t, origin.URL, func(c *Config) { c.Client.MaxBodyBytes = 0 })
	const size = 2 << 20
	for _, chunked := range []bool{false, true} {
		var body io.Reader = strings.NewReader(strings.Repeat("x", size))
		if chunked {
			body = io.MultiReader(body) // no length known: sent chunked
		}
		resp, err := http.Post(e.URL+"/up", "application/octet-stream", body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != fmt.Sprint(size) {
			t.Fatalf("chunked %v: %d %q, want 200 %d", chunked, resp.StatusCode, got, size)
		}
	}
}
