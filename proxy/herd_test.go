package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowOrigin serves body over about d in small flushed pieces, the way a
// distant origin trickles a new segment, and counts what it serves.
func slowOrigin(t testing.TB, body []byte, d time.Duration, hdr http.Header) (*httptest.Server, *counter) {
	return slowOriginGated(t, body, d, hdr, nil)
}

// slowOriginGated is slowOrigin that, when gate is not nil, holds the
// last piece of every body until gate is closed (after a minute, a
// failsafe, it fails the test and sends the rest).
func slowOriginGated(t testing.TB, body []byte, d time.Duration, hdr http.Header, gate <-chan struct{}) (*httptest.Server, *counter) {
	c := &counter{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.inc(r.URL.Path)
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		const pieces = 100
		step := len(body) / pieces
		start := time.Now()
		for i := 0; i < pieces; i++ {
			end := (i + 1) * step
			if i == pieces-1 {
				end = len(body)
				if gate != nil {
					select {
					case <-gate:
					case <-time.After(time.Minute):
						t.Errorf("the origin's gate was never opened: the edge waited for the whole body before serving")
					}
				}
			}
			if _, err := w.Write(body[i*step : end]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			// Pace against the clock, not per piece, so scheduling noise
			// does not stretch the total.
			if sleep := time.Until(start.Add(d * time.Duration(i+1) / pieces)); sleep > 0 {
				time.Sleep(sleep)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, c
}

// TestHerd is the herd: 500 concurrent requests for an uncached
// 4 MB object the origin sends in about 1 s.
func TestHerd(t *testing.T) {
	checkGoroutines(t)
	if testing.Short() {
		t.Skip("herd moves 2 GB over loopback; run without -short")
	}
	const (
		size    = 4 << 20
		sendFor = time.Second
	)
	clients := 500
	if raceEnabled {
		// The race detector slows the copying several times over; the
		// order of events below does not need 2 GB of it.
		clients = 100
	}
	want := pattern(size)
	// The origin holds the last piece of the body until every client has
	// its first byte: waiters must stream the one fetch, so their first
	// bytes come while the origin is still sending. An edge that made
	// them wait for the whole object would keep the gate shut until the
	// origin's failsafe.
	gate := make(chan struct{})
	var firstBytes atomic.Int32
	var openedByClients atomic.Bool
	onFirst := func() {
		if firstBytes.Add(1) == int32(clients) {
			openedByClients.Store(true)
			close(gate)
		}
	}
	origin, hits := slowOriginGated(t, want, sendFor, http.Header{"Content-Type": {"video/mp4"}, "Cache-Control": {"max-age=60"}}, gate)
	e := newEdge(t, origin.URL, nil)

	// Raw keep-alive connections, opened before the herd is released: one
	// goroutine per client that writes a request and reads the socket, as
	// curl or wrk would, so the measurement is the edge's and not 1500
	// net/http client goroutines' on two cores.
	path := "/live/seg-100.m4s"
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", e.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	type result struct {
		ttfb, total time.Duration
		status      string
		err         error
	}
	results := make([]result, clients)
	request := []byte("GET " + path + " HTTP/1.1\r\nHost: edge\r\n\r\n")
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReaderSize(conns[i], 64<<10)
			buf := make([]byte, 64<<10)
			<-release
			results[i] = herdClient(conns[i], br, buf, request, want, onFirst)
		}()
	}
	start := time.Now()
	close(release)
	wg.Wait()
	elapsed := time.Since(start)

	var ttfb, total []time.Duration
	statuses := map[string]int{}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("client %d: %v", i, r.err)
			continue
		}
		ttfb = append(ttfb, r.ttfb)
		total = append(total, r.total)
		statuses[r.status]++
	}
	if n := hits.get(path); n != 1 {
		t.Fatalf("origin served the object %d times, want exactly 1", n)
	}
	if statuses["MISS"] != 1 || statuses["HIT"] != clients-1 {
		t.Errorf("statuses %v, want 1 MISS and %d HIT", statuses, clients-1)
	}
	slices.Sort(ttfb)
	slices.Sort(total)
	p := func(d []time.Duration, q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
	t.Logf("herd of %d on %d MB sent in %v: origin fetches 1; TTFB p50 %v p99 %v max %v; completion p50 %v p99 %v; wall %v",
		clients, size>>20, sendFor, p(ttfb, .5), p(ttfb, .99), ttfb[len(ttfb)-1], p(total, .5), p(total, .99), elapsed)
	// The figures (TTFB p99 45-135 ms here, completion within 5% of the
	// origin's second, varying with what else the two cores run) are
	// reported above and measured against nginx and Varnish by the bench
	// harness; a unit test asserts what no noise can blur. Waiters stream
	// the one fetch: their first bytes come while the origin is still
	// sending (nginx's lock gives none before 1.2 s). How soon the herd
	// ends depends on how busy the two cores are, so it is logged, and
	// measured by the bench harness, not asserted.
	if !openedByClients.Load() {
		t.Errorf("the origin's last piece went out before every waiter had its first byte: waiters must stream the one fetch")
	}
}

// herdClient sends one request on c and reads the response: TTFB is the
// first byte of the response at the socket (curl's time_starttransfer).
func herdClient(c net.Conn, br *bufio.Reader, buf, request, want []byte, onFirst func()) (r struct {
	ttfb, total time.Duration
	status      string
	err         error
}) {
	start := time.Now()
	if _, err := c.Write(request); err != nil {
		r.err = err
		return
	}
	// A failsafe against a hang, not a timing bound.
	c.SetReadDeadline(time.Now().Add(3 * time.Minute))
	if _, err := br.Peek(1); err != nil {
		r.err = err
		return
	}
	r.ttfb = time.Since(start)
	if onFirst != nil {
		onFirst()
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		r.err = err
		return
	}
	r.status = resp.Header.Get("X-Cache-Status")
	off := 0
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if off+n > len(want) || !bytes.Equal(buf[:n], want[off:off+n]) {
				r.err = fmt.Errorf("body differs at %d", off)
				return
			}
			off += n
		}
		if err != nil {
			if off != len(want) {
				r.err = fmt.Errorf("got %d of %d bytes: %v", off, len(want), err)
			}
			break
		}
	}
	r.total = time.Since(start)
	return
}
