package viewer

import (
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
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
	rep := run(t, Config{URL: live.URL + "/hls/low/index.m3u8", Viewers: 4, Duration: 2 * time.Second, Seed: 3,
		Hosts: []string{dead, hostOf(t, live)}})
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
	go func() {
		// Close A once its viewers have loaded a few playlists from it.
		for i := 0; i < 200; i++ {
			n := 0
			for _, r := range oa.requests() {
				if strings.HasSuffix(r.path, ".m3u8") {
					n++
				}
			}
			if n >= 6 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		a.CloseClientConnections()
		a.Listener.Close()
	}()
	rep := run(t, Config{URL: a.URL + "/hls/low/index.m3u8", Viewers: 2, Duration: 3 * time.Second, Seed: 3,
		Hosts: []string{hostOf(t, a), hostOf(t, b)}})
	if rep.Failovers < 1 {
		t.Errorf("failovers %d, want the viewer on A to move", rep.Failovers)
	}
	if rep.Staleness.Backwards == 0 {
		t.Errorf("no backwards load counted, though B is five segments behind A")
	}
}
