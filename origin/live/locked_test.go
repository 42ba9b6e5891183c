package live

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// clockedSession stamps each frame's arrival from its timestamp: the
// encoder's timestamp zero at zero, plus the path's delay; frames before
// burst all arrive at burst, as an ingest's track analysis holds them.
type clockedSession struct {
	sess  *media.Session
	zero  time.Time
	delay time.Duration
	burst time.Duration
}

func (c clockedSession) WriteH264(pts, dts time.Duration, au [][]byte, _ time.Time) error {
	return c.sess.WriteH264(pts, dts, au, c.zero.Add(max(dts, c.burst)+c.delay))
}

func (c clockedSession) WriteAudio(pts time.Duration, payload []byte, _ time.Time) error {
	return c.sess.WriteAudio(pts, payload, c.zero.Add(max(pts, c.burst)+c.delay))
}

// lockedPackager runs one packager's stream on a locked timeline, fed the
// encoder's frames from frame from on, each arriving delay after its time.
func lockedPackager(t *testing.T, zero time.Time, delay, burst time.Duration, from, to int) *Stream {
	t.Helper()
	s := newTestRegistry(t, func(c *Config) { c.Segment.Timeline = TimelineLocked })
	st, sess := startSession(t, s, "live", mediatest.H264AACTracks(t))
	f := &mediatest.Feeder{T: t, Sess: clockedSession{sess, zero, delay, burst}, FPS: 30, GOP: 60, Audio: true, Frame: from}
	for f.AudioTS(f.AFrame) < f.VideoTS(from) {
		f.AFrame++
	}
	f.Run(to - from)
	return st
}

var publishTimeRE = regexp.MustCompile(`publishTime="[^"]*"`)

// TestLockedTimelineTwoPackagers: two packagers fed the same encoder, one
// joining two keyframes later and each at its own network delay, publish
// interchangeable outputs: once both windows are full, the same media
// playlists byte for byte, the same MPD but for publishTime, segments of
// the same names with the same media times, and init segments of the same
// name. An edge failing over from one to the other sees the stream go on.
func TestLockedTimelineTwoPackagers(t *testing.T) {
	// The encoder's timestamp zero, not on a whole second.
	zero := time.Unix(1_765_000_000, 250_000_000)
	// The first one's first 2.9 s arrive in one late burst, as gortmplib's
	// track analysis delivers them (the CI failure of this session: its
	// zero was pinned a second late).
	a := lockedPackager(t, zero, 3*time.Millisecond, 2900*time.Millisecond, 0, 60*20+1)
	b := lockedPackager(t, zero, 41*time.Millisecond, 0, 120, 60*20+1)
	if a.Token() != b.Token() {
		t.Fatalf("tokens %q and %q", a.Token(), b.Token())
	}
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		sa, sb := a.Segments(k), b.Segments(k)
		if len(sa) == 0 || len(sa) != len(sb) {
			t.Fatalf("%s: %d and %d segments listed", k, len(sa), len(sb))
		}
		for i := range sa {
			if sa[i] != sb[i] {
				t.Errorf("%s segment %d: %+v and %+v", k, i, sa[i], sb[i])
			}
		}
		// Numbers are the media time in target durations since the epoch.
		ra, rb := a.rends[k], b.rends[k]
		first := ra.segs[0]
		if want := uint64(1_765_000_000 / 2); k == media.KindVideo && (first.seq < want || first.seq > want+20) {
			t.Errorf("first listed video segment is %d, want a number from %d (seconds since the epoch / 2)", first.seq, want)
		}
		for i := range ra.segs {
			x, y := ra.segs[i], rb.segs[i]
			if x.start != y.start || x.dur != y.dur {
				t.Errorf("%s segment %d: tfdt %d+%d and %d+%d", k, x.seq, x.start, x.dur, y.start, y.dur)
			}
			ea, _ := a.files.get(x.name)
			eb, _ := b.files.get(y.name)
			if ea == nil || eb == nil || !bytes.Equal(ea.body, eb.body) {
				t.Errorf("%s segment %s: bodies differ", k, x.name)
			}
		}
		if ra.segs[len(ra.segs)-1].epoch.initName[k] != rb.segs[len(rb.segs)-1].epoch.initName[k] {
			t.Errorf("%s init names differ", k)
		}
		pa, _ := a.files.get(PlaylistName(k))
		pb, _ := b.files.get(PlaylistName(k))
		if pa == nil || pb == nil || !bytes.Equal(pa.body, pb.body) {
			t.Errorf("%s playlists differ:\n%s\n---\n%s", k, body(pa), body(pb))
		}
		if k == media.KindVideo {
			// EXT-X-PROGRAM-DATE-TIME is the frame's wall-clock time.
			pdt := time.Unix(int64(first.start/90000), int64(first.start%90000)*1e9/90000).UTC().Format("2006-01-02T15:04:05Z")
			if !strings.Contains(body(pa), "#EXT-X-PROGRAM-DATE-TIME:"+pdt) {
				t.Errorf("video playlist has no EXT-X-PROGRAM-DATE-TIME:%s\n%s", pdt, body(pa))
			}
		}
	}
	ma, _ := a.files.get(NameMPD)
	mb, _ := b.files.get(NameMPD)
	da, db := publishTimeRE.ReplaceAllString(body(ma), ""), publishTimeRE.ReplaceAllString(body(mb), "")
	if da != db {
		t.Errorf("MPDs differ beyond publishTime:\n%s\n---\n%s", da, db)
	}
	for _, want := range []string{`availabilityStartTime="1970-01-01T00:00:00.000Z"`, `<Period id="t0" start="PT0S">`} {
		if !strings.Contains(da, want) {
			t.Errorf("MPD lacks %s:\n%s", want, da)
		}
	}
}

// TestLockedTimelineRepublish: a republish on a locked timeline starts a
// new period at its own first media and, its numbers being ahead of the
// last session's, starts the playlist over at them, the old segments still
// fetchable; a session pinned before the last one ended goes on unlocked
// rather than reuse a name.
func TestLockedTimelineRepublish(t *testing.T) {
	s := newTestRegistry(t, func(c *Config) { c.Segment.Timeline = TimelineLocked })
	zero := time.Unix(1_765_000_000, 0)
	st, sess := startSession(t, s, "live", mediatest.H264AACTracks(t))
	f := &mediatest.Feeder{T: t, Sess: clockedSession{sess, zero, time.Millisecond, 0}, FPS: 30, GOP: 60, Audio: true}
	f.Run(60*5 + 1)
	endSession(t, s, st, sess)
	old := st.rends[media.KindVideo].segs
	last := old[len(old)-1]

	// The encoder comes back a minute later, its timestamps from zero.
	st2, sess2 := startSession(t, s, "live", mediatest.H264AACTracks(t))
	if st2 != st {
		t.Fatal("the republish did not continue the stream")
	}
	f2 := &mediatest.Feeder{T: t, Sess: clockedSession{sess2, zero.Add(time.Minute), time.Millisecond, 0}, FPS: 30, GOP: 60, Audio: true}
	f2.Run(60*5 + 1)
	v := st.rends[media.KindVideo]
	// The session starts at the first keyframe 3 s after its first frame
	// (media.Config.LockSettle): 4 s in.
	if got, want := v.segs[0].seq, uint64((1_765_000_060+4)/2); got != want {
		t.Errorf("after the republish the playlist starts at %d, want %d", got, want)
	}
	if e, _ := st.files.get(last.name); e == nil {
		t.Errorf("segment %s of the first session no longer fetchable", last.name)
	}
	mpd, _ := st.files.get(NameMPD)
	if want := `<Period id="t1765000064000" start="PT490277H47M44S">`; !strings.Contains(body(mpd), want) {
		t.Errorf("MPD lacks %s:\n%s", want, body(mpd))
	}
	pl, _ := st.files.get(PlaylistName(media.KindVideo))
	if !strings.Contains(body(pl), "#EXT-X-MEDIA-SEQUENCE:"+strconv.Itoa((1_765_000_060+4)/2)) {
		t.Errorf("playlist does not start over at the new number:\n%s", body(pl))
	}
	endSession(t, s, st, sess2)

	// A third session whose clock puts it before the second one's end.
	end := v.segs[len(v.segs)-1]
	st3, sess3 := startSession(t, s, "live", mediatest.H264AACTracks(t))
	f3 := &mediatest.Feeder{T: t, Sess: clockedSession{sess3, zero.Add(time.Minute), time.Millisecond, 0}, FPS: 30, GOP: 60, Audio: true}
	f3.Run(60*5 + 1)
	endSession(t, s, st3, sess3)
	for _, seg := range v.segs {
		if seg.epoch.id == 2 && (seg.seq <= end.seq || seg.start < end.start+end.dur) {
			t.Errorf("session 3 segment %d (tfdt %d) does not follow session 2's last, %d (tfdt %d+%d)", seg.seq, seg.start, end.seq, end.start, end.dur)
		}
	}
}

func body(e *Entry) string {
	if e == nil {
		return "<missing>"
	}
	return string(e.body)
}
