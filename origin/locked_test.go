package origin

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
)

// TestLockedDemosAreInterchangeable: two packagers running the built-in
// demo on a locked timeline, started at different moments, publish the
// same segments under the same names with the same bytes: the demo plays
// on the wall clock, and the timeline numbers segments by it. This is
// what lets the fleet test fail an edge over from one to the other.
func TestLockedDemosAreInterchangeable(t *testing.T) {
	start := func() *Server {
		s := newTestServer(t, func(c *Config) { c.Segment.Timeline = live.TimelineLocked })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = s.ServeRTMP(context.Background(), ln) }()
		if err := s.StartDemo(context.Background(), "demo"); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Not a speed bound: how long the demo may take to list what is
	// waited for before the test gives up.
	const patience = 60 * time.Second
	began := time.Now()
	a := start()
	// The second starts once the first has a segment out, so the two
	// begin at different keyframes.
	waitFor(t, "the first packager's first segment", patience, func() bool {
		st := a.Stream("demo")
		return st != nil && len(st.Segments(media.KindVideo)) > 0
	})
	b := start()
	var common []live.SegmentInfo
	waitFor(t, "two segments both packagers list", patience, func() bool {
		sa, sb := a.Stream("demo"), b.Stream("demo")
		if sb == nil {
			return false
		}
		common = common[:0]
		names := map[uint64]live.SegmentInfo{}
		for _, s := range sa.Segments(media.KindVideo) {
			names[s.MSN] = s
		}
		for _, s := range sb.Segments(media.KindVideo) {
			if x, ok := names[s.MSN]; ok {
				if x != s {
					t.Fatalf("segment %d: %+v on one, %+v on the other", s.MSN, x, s)
				}
				common = append(common, s)
			}
		}
		return len(common) >= 2
	})
	for _, s := range common {
		ea, _ := a.Stream("demo").File(s.Name)
		eb, _ := b.Stream("demo").File(s.Name)
		if ea == nil || eb == nil {
			t.Fatalf("segment %s not served by both", s.Name)
		}
		if ba, bb := body(t, ea), body(t, eb); !bytes.Equal(ba, bb) {
			i := 0
			for i < min(len(ba), len(bb)) && ba[i] == bb[i] {
				i++
			}
			t.Errorf("segment %s: the two packagers' bytes differ (%d and %d bytes, first at %d: % x / % x)", s.Name, len(ba), len(bb), i, ba[max(i-16, 0):min(i+16, len(ba))], bb[max(i-16, 0):min(i+16, len(bb))])
		}
	}
	// Numbers count target durations (2 s) since the Unix epoch: the
	// segment began after the test did (less the second the timeline
	// floors a session's start to) and before now (give or take the one
	// the first number rounds to). Both bounds are read outside the waits,
	// so however long a busy machine makes them, the right number lies
	// within.
	lo, hi := uint64(began.Unix()-1)/2, uint64(time.Now().Unix())/2+1
	if common[0].MSN < lo || common[0].MSN > hi {
		t.Errorf("segment number %d is not the wall clock's: want %d to %d", common[0].MSN, lo, hi)
	}
}
