package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
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
		// head when bodies are streamed (stream_bodies; a declared length
		// over the limit is refused at the door).
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
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%d origins/stream %v", tc.name, members, stream), func(t *testing.T) {
					// Read whole first (the default), the origin sees none
					// of these requests.
					testViewerBody(t, members, stream, tc.raw, tc.halfClose, tc.wantStatus, tc.originSees && stream)
				})
			}
		}
	}
}

func testViewerBody(t *testing.T, members int, stream bool, raw string, halfClose bool, want int, originSees bool) {
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
		c.Client.StreamBodies = stream
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
		t.Errorf("the origin was asked for a body it could not be given whole")
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

// waitBodyBuffer waits until edgecache_request_body_buffer_bytes is
// exactly want: the event a test orders itself after (a body being read
// whole has grown; every buffer released). The deadline is a liveness
// guard, not a timing bound.
func waitBodyBuffer(t *testing.T, e *edge, want float64, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := metricValue(t, e.reg, "edgecache_request_body_buffer_bytes", "", "")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: edgecache_request_body_buffer_bytes is %v after 30 s, want %v", what, got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// readFinal reads c's first final response (after any 1xx) and its
// body, within the liveness bound.
func readFinal(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading the response's body: %v", err)
		}
		if resp.StatusCode >= 200 {
			return resp, string(b)
		}
	}
}

// originSaw is what an origin received of one request body.
type originSaw struct {
	length int64
	te     []string
	expect string
	body   string
}

// bodyOrigin answers "got N" for a body of N bytes and sends what it saw
// on the returned channel (buffered, so the handler never waits).
func bodyOrigin(t *testing.T) (*recOrigin, chan originSaw) {
	saw := make(chan originSaw, 16)
	o := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		saw <- originSaw{r.ContentLength, r.TransferEncoding, r.Header.Get("Expect"), string(b)}
		w.Header().Set("Cache-Control", "private")
		fmt.Fprintf(w, "got %d", len(b))
	})
	return o, saw
}

// A viewer's body is read whole before any origin is asked, as nginx's
// proxy_request_buffering on: a viewer that sends half its body and waits
// (within client.body_timeout, as long as it likes: one byte a minute is
// within nginx's 60 s too) holds its own connection only, never an origin
// connection, so a few hundred such POSTs cannot take every connection an
// origin will accept from the edge. The origin then gets the body with
// its length (not chunked) and without Expect (the viewer had its 100
// from the edge).
func TestViewerBodyReadWholeFirst(t *testing.T) {
	origin, saw := bodyOrigin(t)
	e := newEdge(t, origin.URL, nil)
	part := strings.Repeat("p", 20<<10)
	c := rawDial(t, e.Listener.Addr().String(), "POST /live/api HTTP/1.1\r\nHost: edge.test\r\n"+
		"Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"+
		fmt.Sprintf("%x\r\n%s\r\n", len(part), part))
	defer c.Close()
	// The edge holds the first half (its buffer has grown past it)...
	waitBodyBuffer(t, e, 32<<10, "the first half of the body to be held")
	if n := origin.seen.get("/live/api"); n != 0 {
		t.Fatalf("the origin was asked %d times before the viewer's body was whole", n)
	}
	// ... and the origin is asked once it is whole.
	if _, err := io.WriteString(c, fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(part), part)); err != nil {
		t.Fatal(err)
	}
	if resp, body := readFinal(t, c); resp.StatusCode != http.StatusOK || body != fmt.Sprint("got ", 2*len(part)) {
		t.Fatalf("got %d %q, want 200 \"got %d\"", resp.StatusCode, body, 2*len(part))
	}
	got := <-saw
	if got.length != int64(2*len(part)) || len(got.te) != 0 || got.expect != "" || got.body != part+part {
		t.Errorf("the origin got length %d, Transfer-Encoding %q, Expect %q: want the whole body of %d with its length", got.length, got.te, got.expect, 2*len(part))
	}
	waitBodyBuffer(t, e, 0, "the body's buffer to be released")
}

// client.body_buffer_bytes bounds the memory all bodies being read whole
// take at once: a body that would grow past it gets 503 with Retry-After
// (the edge's limit, not the viewer's fault: the connection is closed,
// since the body is left unread), and once the others are done it goes
// through.
func TestViewerBodyBufferBudget(t *testing.T) {
	origin, saw := bodyOrigin(t)
	e := newEdge(t, origin.URL, func(c *Config) {
		c.Client.MaxBodyBytes = 48 << 10
		c.Client.BodyBufferBytes = 64 << 10
	})
	// A holds 48 KiB of buffer, its body not yet whole.
	const size = 48 << 10
	c := rawDial(t, e.Listener.Addr().String(), fmt.Sprintf("POST /a HTTP/1.1\r\nHost: edge.test\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("a", 40<<10)))
	defer c.Close()
	waitBodyBuffer(t, e, size, "A's body to be held")
	// B's buffer would grow past the budget.
	body := strings.Repeat("b", size)
	resp, got := postBody(t, e.URL+"/b", body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("B got %d (Retry-After %q, close %v) %q: want 503 with Retry-After, closed", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, got)
	}
	if origin.seen.get("/b") != 0 {
		t.Errorf("the origin was asked for B's body that could not be held")
	}
	// A completes; then B goes through.
	if _, err := io.WriteString(c, strings.Repeat("a", size-40<<10)); err != nil {
		t.Fatal(err)
	}
	if resp, body := readFinal(t, c); resp.StatusCode != http.StatusOK || body != fmt.Sprint("got ", size) {
		t.Fatalf("A: %d %q, want 200", resp.StatusCode, body)
	}
	<-saw
	waitBodyBuffer(t, e, 0, "A's buffer to be released")
	if resp, got = postBody(t, e.URL+"/b", body); resp.StatusCode != http.StatusOK || got != fmt.Sprint("got ", size) {
		t.Fatalf("B again: %d %q, want 200", resp.StatusCode, got)
	}
	waitBodyBuffer(t, e, 0, "B's buffer to be released")
}

// A body read whole can be sent again: a POST whose first origin
// refuses the connection goes to the next one whatever its size (a body
// streamed to the origin could be kept to send again only up to 64 KiB).
func TestViewerBodyReadWholeFailsOver(t *testing.T) {
	good, saw := bodyOrigin(t)
	e := originsEdge(t, []string{refusedURL(t), good.URL}, nil)
	body := strings.Repeat("f", 200<<10)
	resp, got := postBody(t, e.URL+"/live/api", body)
	if resp.StatusCode != http.StatusOK || got != fmt.Sprint("got ", len(body)) {
		t.Fatalf("got %d %q, want 200 from the second origin", resp.StatusCode, got)
	}
	if s := <-saw; s.body != body {
		t.Errorf("the second origin got %d bytes, want the whole body", len(s.body))
	}
}

// Bodies read whole must fit the budget for all of them: a max_body_bytes
// past body_buffer_bytes is refused when the config is loaded, not met as
// a 503 for every long body; streamed bodies need no budget.
func TestBodyBufferConfig(t *testing.T) {
	for _, tc := range []struct {
		name        string
		max, budget ByteSize
		stream      bool
		err         string
		wantBudget  ByteSize
	}{
		{name: "defaults", wantBudget: 64 << 20},
		{name: "limit within the budget", max: 10 << 20, budget: 10 << 20, wantBudget: 10 << 20},
		{name: "limit past the budget", max: 100 << 20, err: "client.max_body_bytes 104857600 exceeds client.body_buffer_bytes 67108864"},
		{name: "limit past the budget, streamed", max: 100 << 20, stream: true, wantBudget: 64 << 20},
		{name: "negative limit", max: -1, err: "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Routes = []Route{{Prefix: "/", Origin: "http://127.0.0.1:1/"}}
			if tc.max != 0 {
				c.Client.MaxBodyBytes = tc.max
			}
			c.Client.BodyBufferBytes = tc.budget
			c.Client.StreamBodies = tc.stream
			err := c.Validate()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Validate = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Client.BodyBufferBytes != tc.wantBudget {
				t.Errorf("body_buffer_bytes = %d, want %d", c.Client.BodyBufferBytes, tc.wantBudget)
			}
		})
	}
}

// A body's charge to client.body_buffer_bytes ends once the origin has it,
// not when the exchange ends: a response that streams for long (to a
// viewer that reads slowly, or an origin that takes its time) holds none
// of the budget, so a few such exchanges cannot refuse everyone's POSTs.
func TestViewerBodyBufferReleasedWhenSent(t *testing.T) {
	release := make(chan struct{})
	got := make(chan int, 1)
	origin := newRecOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- len(b)
		w.Header().Set("Cache-Control", "private")
		io.WriteString(w, "first part ")
		w.(http.Flusher).Flush()
		<-release // the rest of the response comes later
		io.WriteString(w, "rest")
	})
	t.Cleanup(func() { close(release) }) // before the origin's Close: cleanups run last first
	// The origin's quiet would otherwise end the exchange (passidle.go).
	e := newEdge(t, origin.URL, func(c *Config) { c.Origin.IdleTimeout = time.Hour })
	body := strings.Repeat("q", 100<<10)
	resp, err := http.Post(e.URL+"/live/api", "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if n := <-got; n != len(body) {
		t.Fatalf("the origin got %d bytes, want %d", n, len(body))
	}
	// The response is still streaming; the body's buffer is free.
	waitBodyBuffer(t, e, 0, "the body's buffer to be released once sent")
}
