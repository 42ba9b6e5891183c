package live

import (
	"bytes"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

func TestSegmentation(t *testing.T) {
	tests := []struct {
		name     string
		fps, gop int
		frames   int
		bframes  bool
		target   time.Duration
		wantDur  float64 // every complete segment
		wantSegs int     // complete segments before close
	}{
		{name: "2s GOP", fps: 30, gop: 60, frames: 60*4 + 1, target: 2 * time.Second, wantDur: 2, wantSegs: 4},
		{name: "1s GOP cuts every other keyframe", fps: 30, gop: 30, frames: 60*3 + 1, target: 2 * time.Second, wantDur: 2, wantSegs: 3},
		{name: "3s GOP exceeds target", fps: 30, gop: 90, frames: 90*3 + 1, target: 2 * time.Second, wantDur: 3, wantSegs: 3},
		{name: "25 fps with B-frames", fps: 25, gop: 50, frames: 50*3 + 1, bframes: true, target: 2 * time.Second, wantDur: 2, wantSegs: 3},
		{name: "short target", fps: 30, gop: 15, frames: 15*8 + 1, target: 500 * time.Millisecond, wantDur: 0.5, wantSegs: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestRegistry(t, func(c *Config) {
				c.Segment.Window = 100
				c.Segment.TargetDuration = tc.target
			})
			st, sess := startSession(t, s, "test", mediatest.H264AACTracks(t))
			f := &mediatest.Feeder{T: t, Sess: sess, FPS: tc.fps, GOP: tc.gop, Audio: true, BFrames: tc.bframes, Base: 5 * time.Second}
			f.Run(tc.frames)

			v, a := st.rends[media.KindVideo], st.rends[media.KindAudio]
			if len(v.segs) != tc.wantSegs {
				t.Fatalf("video segments before close = %d, want %d", len(v.segs), tc.wantSegs)
			}
			for _, seg := range v.segs {
				if math.Abs(seg.seconds()-tc.wantDur) > 0.0015 {
					t.Errorf("video segment %d lasts %.4fs, want %.3f", seg.seq, seg.seconds(), tc.wantDur)
				}
			}
			endSession(t, s, st, sess)

			checkContinuous(t, v)
			checkContinuous(t, a)
			// The feeder stops right after a keyframe, so the last video
			// segment may have no audio after it.
			if len(a.segs) < tc.wantSegs {
				t.Fatalf("audio segments = %d, want at least %d", len(a.segs), tc.wantSegs)
			}
			for i := range tc.wantSegs {
				vs, as := v.segs[i], a.segs[i]
				if vs.seq != as.seq {
					t.Errorf("segment %d: video seq %d, audio seq %d", i, vs.seq, as.seq)
				}
				// Audio is cut on the video boundaries, to within a frame.
				if d := math.Abs(vs.presStart() - as.presStart()); d > 1024.0/48000 {
					t.Errorf("segment %d: audio starts %.4fs away from video", i, d)
				}
				checkSegmentBytes(t, st, vs, true, tc.bframes)
				checkSegmentBytes(t, st, as, false, false)
			}
		})
	}
}

// checkContinuous asserts tfdt continuity: each segment starts where the
// previous one ended.
func checkContinuous(t *testing.T, r *rendition) {
	t.Helper()
	for i := 1; i < len(r.segs); i++ {
		p, s := r.segs[i-1], r.segs[i]
		if p.start+p.dur != s.start {
			t.Errorf("%s segment %d starts at %d, previous ends at %d", r.kind, s.seq, s.start, p.start+p.dur)
		}
		if s.seq != p.seq+1 {
			t.Errorf("%s sequence %d follows %d", r.kind, s.seq, p.seq)
		}
	}
}

// checkSegmentBytes parses a served segment and compares it with its
// metadata.
func checkSegmentBytes(t *testing.T, st *Stream, seg *segMeta, video, bframes bool) {
	t.Helper()
	e, ok := st.File(seg.name)
	if !ok {
		t.Fatalf("segment %s not served", seg.name)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(e.body); err != nil {
		t.Fatalf("segment %s: %v", seg.name, err)
	}
	if len(parts) == 0 || parts[0].Tracks[0].BaseTime != seg.start {
		t.Fatalf("segment %s: first tfdt %d, want %d", seg.name, parts[0].Tracks[0].BaseTime, seg.start)
	}
	next := seg.start
	var total uint64
	sawOffset := false
	for i, p := range parts {
		tr := p.Tracks[0]
		if tr.BaseTime != next {
			t.Errorf("segment %s fragment %d: tfdt %d, want %d", seg.name, i, tr.BaseTime, next)
		}
		for j, smp := range tr.Samples {
			if video && i == 0 && j == 0 && smp.IsNonSyncSample {
				t.Errorf("segment %s does not start with a sync sample", seg.name)
			}
			if smp.PTSOffset != 0 {
				sawOffset = true
			}
			total += uint64(smp.Duration)
			next += uint64(smp.Duration)
		}
	}
	if total != seg.dur {
		t.Errorf("segment %s: samples last %d, metadata says %d", seg.name, total, seg.dur)
	}
	if bframes && !sawOffset {
		t.Errorf("segment %s: composition offsets lost", seg.name)
	}
}

// A segment and the playlists naming it become visible together; the
// next segment's name is never served before it is complete.
func TestVisibility(t *testing.T) {
	s := newTestRegistry(t, func(c *Config) { c.Segment.Window = 3 })
	st, sess := startSession(t, s, "vis", mediatest.H264AACTracks(t))
	var listed []string
	f := &mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true}
	f.OnFrame = func(frame int, key bool) {
		// Invariant after every frame: everything a playlist names is served.
		for _, pl := range []string{"video.m3u8", "audio.m3u8"} {
			e, ok := st.File(pl)
			if !ok {
				continue
			}
			for _, line := range strings.Split(string(e.body), "\n") {
				uri := line
				tag, val, _ := strings.Cut(line, ":")
				switch {
				case tag == "#EXT-X-MAP" || tag == "#EXT-X-PART":
					uri = mediatest.Attrs(val)["URI"]
				case tag == "#EXT-X-PRELOAD-HINT":
					// The next part: not served until complete.
					if _, ok := st.File(mediatest.Attrs(val)["URI"]); ok {
						t.Fatalf("frame %d: %s hints %s, which is already served", frame, pl, mediatest.Attrs(val)["URI"])
					}
					continue
				case line == "" || line[0] == '#':
					continue
				}
				if _, ok := st.File(uri); !ok {
					t.Fatalf("frame %d: %s lists %s, which is not served", frame, pl, uri)
				}
			}
		}
		// The segment in progress, the next one, is not served.
		next := st.rends[media.KindVideo].nextSeq
		if _, ok := st.File(st.SegmentName(media.KindVideo, next)); ok {
			t.Fatalf("frame %d: segment %d served while open", frame, next)
		}
		if key && frame > 0 {
			listed = append(listed, st.SegmentName(media.KindVideo, uint64(frame/60-1)))
		}
	}
	f.Run(60*8 + 1)
	// Segments that left the window stay fetchable (RFC 8216 6.2.2).
	for _, name := range listed {
		if _, ok := st.File(name); !ok {
			t.Errorf("%s gone right after leaving the window", name)
		}
	}
	endSession(t, s, st, sess)
	// And expire after the retention time.
	st.expire(time.Now().Add(s.cfg.Segment.Retain + time.Second))
	if _, ok := st.File(listed[0]); ok {
		t.Errorf("%s still served after retention", listed[0])
	}
	if _, ok := st.File(st.SegmentName(media.KindVideo, st.rends[media.KindVideo].segs[0].seq)); !ok {
		t.Errorf("listed segment expired")
	}
}

func TestRepublish(t *testing.T) {
	s := newTestRegistry(t, func(c *Config) { c.Segment.Window = 20 })
	tracks := mediatest.H264AACTracks(t)
	st, sess := startSession(t, s, "re", tracks)
	(&mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true, Base: 0}).Run(60*3 + 20)
	endSession(t, s, st, sess)
	ast := st.ast
	v := st.rends[media.KindVideo]
	firstEpochEnd := v.segs[len(v.segs)-1].start + v.segs[len(v.segs)-1].dur
	n1 := len(v.segs)
	names := map[string]string{}
	for _, seg := range v.segs {
		names[seg.name] = "epoch0"
	}

	// The publisher comes back; its RTMP timestamps restart from zero and
	// this time the parameter sets differ (another encoder setting).
	time.Sleep(10 * time.Millisecond)
	st2, sess2 := startSession(t, s, "re", tracks)
	if st2 != st {
		t.Fatal("republish made a new stream")
	}
	(&mediatest.Feeder{T: t, Sess: sess2, FPS: 30, GOP: 60, Audio: true, Base: 0}).Run(60*3 + 1)
	endSession(t, s, st, sess2)

	if !st.ast.Equal(ast) {
		t.Errorf("availabilityStartTime moved from %v to %v", ast, st.ast)
	}
	checkContinuous(t, v) // sequence numbers and tfdt continue
	// Audio resumes in sync with video: its tfdt may skip the few ms it
	// ended before the video, never overlap.
	a := st.rends[media.KindAudio]
	for i := 1; i < len(a.segs); i++ {
		p, c := a.segs[i-1], a.segs[i]
		if c.seq != p.seq+1 {
			t.Errorf("audio sequence %d follows %d", c.seq, p.seq)
		}
		if gap := int64(c.start) - int64(p.start+p.dur); gap < 0 || (gap > 0 && (!c.disc || gap > 48000/20)) {
			t.Errorf("audio segment %d: gap %d samples after %d (disc %v)", c.seq, gap, p.seq, c.disc)
		}
	}
	second := v.segs[n1]
	if !second.disc || second.epoch.id != 1 || second.start != firstEpochEnd {
		t.Errorf("first segment after republish: disc=%v epoch=%d start=%d (want true, 1, %d)",
			second.disc, second.epoch.id, second.start, firstEpochEnd)
	}
	if second.presStart() < v.segs[n1-1].presStart()+v.segs[n1-1].seconds() {
		t.Errorf("presentation time went backwards across republish")
	}
	for _, seg := range v.segs[n1:] {
		if _, dup := names[seg.name]; dup {
			t.Errorf("URL %s reused", seg.name)
		}
	}
	pl, _ := st.File("video.m3u8")
	body := string(pl.body)
	for _, want := range []string{"#EXT-X-DISCONTINUITY\n", "init-0.mp4", "init-1.mp4"} {
		if !strings.Contains(body, want) {
			t.Errorf("playlist lacks %q:\n%s", want, body)
		}
	}
	mpdE, _ := st.File(NameMPD)
	if n := strings.Count(string(mpdE.body), "<Period "); n != 2 {
		t.Errorf("MPD has %d periods, want 2:\n%s", n, mpdE.body)
	}
}

func TestParameterChangeStartsEpoch(t *testing.T) {
	s := newTestRegistry(t, func(c *Config) { c.Segment.Window = 20 })
	st, sess := startSession(t, s, "pc", mediatest.H264AACTracks(t))
	f := &mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true}
	f.Run(130)
	// New SPS mid-stream (e.g. a resolution change in OBS).
	sps := mediatest.SPS()
	sps[len(sps)-2] ^= 0x01
	if err := sess.WriteH264(f.VideoTS(f.Frame), f.VideoTS(f.Frame), [][]byte{sps, mediatest.PPS()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	f.SPS = sps
	f.Run(121)
	endSession(t, s, st, sess)
	if got := len(st.epochs); got != 2 {
		t.Fatalf("epochs = %d, want 2", got)
	}
	// The new epoch's init segment carries the new SPS.
	e, ok := st.File(st.epochs[1].initName[media.KindVideo])
	if !ok {
		t.Fatal("new epoch's init segment not served")
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(e.body)); err != nil {
		t.Fatal(err)
	}
	if cur, ok := init.Tracks[0].Codec.(*mp4codecs.H264); !ok || !bytes.Equal(cur.SPS, sps) {
		t.Errorf("new epoch does not carry the new SPS")
	}
	checkContinuous(t, st.rends[media.KindVideo])
}

func TestAudioOnly(t *testing.T) {
	s := newTestRegistry(t, nil)
	a, err := media.NewAACTrack(mediatest.ASC())
	if err != nil {
		t.Fatal(err)
	}
	st, sess := startSession(t, s, "radio", [2]*media.Track{nil, a})
	for i := 0; i < 48000*5/1024; i++ {
		if err := sess.WriteAudio(time.Duration(i)*1024*time.Second/48000, []byte{1, 2, 3}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	endSession(t, s, st, sess)
	r := st.rends[media.KindAudio]
	if len(r.segs) < 2 {
		t.Fatalf("audio-only produced %d segments", len(r.segs))
	}
	checkContinuous(t, r)
	mv, ok := st.File(NameMultivariant)
	if !ok || !strings.Contains(string(mv.body), "radio/audio.m3u8") || strings.Contains(string(mv.body), "EXT-X-MEDIA") {
		t.Errorf("audio-only multivariant:\n%s", mv.body)
	}
}

func BenchmarkVideoPush(b *testing.B) {
	s := newTestRegistry(b, nil)
	st, sess := startSession(b, s, "bench", mediatest.H264AACTracks(b))
	_ = st
	f := &mediatest.Feeder{T: b, Sess: sess, FPS: 30, GOP: 60, Audio: true}
	b.ReportAllocs()
	b.ResetTimer()
	f.Run(b.N)
}

// When video stops, audio keeps being segmented.
func TestVideoStallAudioContinues(t *testing.T) {
	s := newTestRegistry(t, func(c *Config) { c.Segment.Window = 50 })
	st, sess := startSession(t, s, "stall", mediatest.H264AACTracks(t))
	f := &mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true}
	f.Run(121)
	before := len(st.rends[media.KindAudio].segs)
	for i := 0; i < 48000*20/1024; i++ {
		ts := f.AudioTS(f.AFrame).Truncate(time.Millisecond)
		if err := sess.WriteAudio(ts, []byte{0x21, byte(i)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		f.AFrame++
	}
	// The held-back queue's bound is checked in media
	// (TestVideoStallAudioQueueBounded).
	if got := len(st.rends[media.KindAudio].segs); got <= before+2 {
		t.Errorf("audio segments %d -> %d during a 20 s video stall", before, got)
	}
	endSession(t, s, st, sess)
	checkContinuous(t, st.rends[media.KindAudio])
}

// TestRepublishNoSequenceGap: a rendition that made fewer segments than
// the others in one session (here audio, which began late) continues from
// its own count in the next. Aligning it up to the others would leave a
// gap, and HLS numbers a playlist's segments consecutively: every segment
// after the gap would be listed under the wrong sequence number until the
// gap left the window, and players and the edge's gate see URIs change
// their numbers.
func TestRepublishNoSequenceGap(t *testing.T) {
	s := newTestRegistry(t, func(c *Config) { c.Segment.Window = 20 })
	tracks := mediatest.H264AACTracks(t)
	st, sess := startSession(t, s, "gap", tracks)
	(&mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true, NoAudioN: 70}).Run(60*3 + 20)
	endSession(t, s, st, sess)
	v, a := st.rends[media.KindVideo], st.rends[media.KindAudio]
	if a.nextSeq >= v.nextSeq {
		t.Fatalf("setup: audio made %d segments, video %d; audio must lag", a.nextSeq, v.nextSeq)
	}
	time.Sleep(10 * time.Millisecond)
	_, sess2 := startSession(t, s, "gap", tracks)
	(&mediatest.Feeder{T: t, Sess: sess2, FPS: 30, GOP: 60, Audio: true}).Run(60*3 + 1)
	endSession(t, s, st, sess2)

	seqRe := regexp.MustCompile(`/(\d+)\.m4s$`)
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		r := st.rends[k]
		for i := 1; i < len(r.segs); i++ {
			if r.segs[i].seq != r.segs[i-1].seq+1 {
				t.Errorf("%v: sequence %d follows %d", k, r.segs[i].seq, r.segs[i-1].seq)
			}
		}
		e, ok := st.File(PlaylistName(k))
		if !ok {
			t.Fatalf("no %s", PlaylistName(k))
		}
		msn := -1
		n := 0
		for _, line := range strings.Split(string(e.body), "\n") {
			if v, ok := strings.CutPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"); ok {
				msn, _ = strconv.Atoi(v)
			}
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			m := seqRe.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%v: segment URI %q has no number", k, line)
			}
			if got, _ := strconv.Atoi(m[1]); got != msn+n {
				t.Errorf("%v: %s is listed under media sequence number %d", k, line, msn+n)
			}
			n++
		}
		if n == 0 {
			t.Errorf("%v: playlist lists no segments:\n%s", k, e.body)
		}
	}
}
