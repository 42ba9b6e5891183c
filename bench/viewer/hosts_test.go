package viewer

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func hostOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// A dead replica: the viewers that start on it move to the next host once
// and play from there, with no failed request counted.
func TestHostsFailoverOnRefusedConnection(t *testing.T) {
	o := newLiveOrigin(400*time.Millisecond, 8)
	live := o.start(t, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	end := startRun(t, Config{URL: live.URL + "/hls/low/index.m3u8", Viewers: 4, Duration: time.Hour, Seed: 3,
		Hosts: []string{dead, hostOf(t, live)}})
	// Ended once every viewer has asked for a second segment: it had the
	// first whole, so it is playing.
	waitFor(t, "four viewers with two segment requests each", func() bool {
		n := 0
		for _, c := range o.perClient(0, ".m4s") {
			if c >= 2 {
				n++
			}
		}
		return n == 4
	})
	rep := end()
	if rep.Failovers != 2 {
		t.Errorf("failovers %d, want 2 (viewers 0 and 2 start on the dead host)", rep.Failovers)
	}
	if rep.Viewers.Played != 4 {
		t.Errorf("viewers %+v, want all 4 playing", rep.Viewers)
	}
	if e := rep.Errors; e.Status4xx+e.Status5xx+e.Network != 0 {
		t.Errorf("errors %+v: a refused connect is retried on the next host, not counted", e)
	}
	if rep.Staleness.Backwards != 0 {
		t.Errorf("backwards %d from one origin", rep.Staleness.Backwards)
	}
}

// A replica dies mid-run and the next one serves an older playlist: the
// viewers that move see their newest segment go backwards, and the report
// says so.
func TestHostsBackwardsAfterFailover(t *testing.T) {
	oa := newLiveOrigin(300*time.Millisecond, 8)
	ob := newLiveOrigin(300*time.Millisecond, 8)
	ob.t0 = oa.t0
	a := oa.start(t, 0)
	b := ob.start(t, 1500*time.Millisecond) // five segments behind
	end := startRun(t, Config{URL: a.URL + "/hls/low/index.m3u8", Viewers: 2, Duration: time.Hour, Seed: 3,
		Hosts: []string{hostOf(t, a), hostOf(t, b)}})
	// Close A once its viewers have loaded a few playlists from it.
	waitFor(t, "six playlist loads from A", func() bool {
		n := 0
		for _, c := range oa.perClient(0, ".m3u8") {
			n += c
		}
		return n >= 6
	})
	a.CloseClientConnections()
	a.Listener.Close()
	// The viewer that moved is a new client at B. Its second playlist
	// load there comes after it read the first, older one.
	seen := len(ob.requests())
	waitFor(t, "a viewer from A loading B's playlist twice", func() bool {
		for _, c := range ob.perClient(seen, ".m3u8") {
			if c >= 2 {
				return true
			}
		}
		return false
	})
	rep := end()
	if rep.Failovers < 1 {
		t.Errorf("failovers %d, want the viewer on A to move", rep.Failovers)
	}
	if rep.Staleness.Backwards == 0 {
		t.Errorf("no backwards load counted, though B is five segments behind A")
	}
}

// A replica dies with requests in flight: the requests it cut off are
// counted as lost on a dead host, apart from other failures; a host that
// fails a request but stays up is not charged.
func TestHostsLostInFlight(t *testing.T) {
	o := newLiveOrigin(300*time.Millisecond, 8)
	inner := o.handler(0)
	held := make(chan struct{})
	var once sync.Once
	a := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".m4s") || strings.HasSuffix(r.URL.Path, ".ts") {
			// Every segment request on A sends a head and a few bytes, then
			// hangs until A dies: a body cut off in flight.
			w.Header().Set("Content-Length", "1000")
			w.Write(make([]byte, 10))
			w.(http.Flusher).Flush()
			once.Do(func() { close(held) })
			<-r.Context().Done()
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(a.Close)
	b := o.start(t, 0)
	end := startRun(t, Config{URL: a.URL + "/hls/low/index.m3u8", Viewers: 1, Duration: time.Hour, Seed: 3,
		Hosts: []string{hostOf(t, a), hostOf(t, b)}})
	select {
	case <-held:
	case <-time.After(viewerLiveness):
		t.Fatalf("no segment request reached A in %v", viewerLiveness)
	}
	seen := len(o.requests())
	a.Listener.Close()
	a.CloseClientConnections()
	// The viewer counted the request A cut off, moved, and asked B twice.
	waitFor(t, "two requests at B after A died", func() bool { return len(o.requests())-seen >= 2 })
	rep := end()
	if rep.Failovers != 1 {
		t.Errorf("failovers %d, want 1", rep.Failovers)
	}
	failed := rep.Errors.Status4xx + rep.Errors.Status5xx + rep.Errors.Network
	if rep.LostOnDeadHost < 1 || rep.LostOnDeadHost > failed {
		t.Errorf("lost on the dead host %d of %d failed requests, want at least the one held there", rep.LostOnDeadHost, failed)
	}
}

// The accounting alone: failures on a host that then refuses connections
// are lost there; a success in between clears them.
func TestHostFailoverLostAccounting(t *testing.T) {
	var lost int64
	h := &hostFailover{hosts: []string{"a:1", "b:1"}, moved: func() {}, lost: func(n int64) { lost += n }}
	h.fail("a:1")
	h.fail("a:1")
	h.fail("b:1")
	h.mu.Lock()
	delete(h.pending, 1) // b answered again
	h.mu.Unlock()
	h.base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "a:1" {
			return nil, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
		}
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	req := httptest.NewRequest(http.MethodGet, "http://a:1/x", nil)
	req.RequestURI = ""
	if _, err := h.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if lost != 2 {
		t.Errorf("lost %d, want the 2 failed on a before it refused", lost)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
