package origin

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/hls-m3u8/m3u8"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// TestLowLatencyPlaylists checks the LL-HLS tags of both media playlists
// of a live stream for consistency with each other, with the parts and
// segments they name, and with RFC 8216bis.
func TestLowLatencyPlaylists(t *testing.T) {
	l := startLLStream(t, nil, 60, 60*8+25)
	pls := map[media.Kind]llPlaylist{}
	bodies := map[media.Kind][]byte{}
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		r := mustGet(t, l.url(live.PlaylistName(k)))
		if r.status != 200 {
			t.Fatalf("%s: %d", live.PlaylistName(k), r.status)
		}
		bodies[k], pls[k] = r.body, parseLL(t, r.body)
	}
	for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
		t.Run(k.String(), func(t *testing.T) {
			p, body := pls[k], bodies[k]
			checkLLHeader(t, p)
			checkLLParts(t, p, k)
			checkLLBytes(t, l, p, k)
			// The preload hint names the part after the last one listed.
			last := p.lastPart()
			if want := partURI(last.uri, last.index+1); p.hintType != "PART" || p.hint != want {
				t.Errorf("EXT-X-PRELOAD-HINT TYPE=%s URI=%s, want PART %s", p.hintType, p.hint, want)
			}
			if last.msn != p.segs[len(p.segs)-1].msn+1 {
				t.Errorf("last part belongs to %d; the segment in progress is %d", last.msn, p.segs[len(p.segs)-1].msn+1)
			}
			// The rendition report gives the other rendition's last part.
			o := pls[1-k]
			ol := o.lastPart()
			want := map[string]string{
				"URI": live.PlaylistName(1 - k), "LAST-MSN": strconv.FormatUint(ol.msn, 10), "LAST-PART": strconv.Itoa(ol.index),
			}
			if len(p.reports) != 1 || !sameAttrs(p.reports[0], want) {
				t.Errorf("EXT-X-RENDITION-REPORT %v, want %v", p.reports, want)
			}
			checkWithLibrary(t, body, p)
		})
	}
}

func sameAttrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// partURI is the URI of part i of the segment that part uri belongs to.
func partURI(uri string, i int) string {
	base := uri[:strings.LastIndexByte(strings.TrimSuffix(uri, ".m4s"), '.')]
	return base + "." + strconv.Itoa(i) + ".m4s"
}

// mimeOf is the media type of kind k's segments and parts.
func mimeOf(k media.Kind) string {
	if k == media.KindVideo {
		return mimeVideoMP4
	}
	return mimeAudioMP4
}

func checkLLHeader(t *testing.T, p llPlaylist) {
	t.Helper()
	if p.version != 6 {
		t.Errorf("EXT-X-VERSION %d, want 6 (RFC 8216 7: EXT-X-MAP)", p.version)
	}
	if p.partTarget != 0.35 {
		t.Errorf("PART-TARGET %v, want 0.35 (333 ms + 5%%)", p.partTarget)
	}
	c := p.control
	phb, _ := strconv.ParseFloat(c["PART-HOLD-BACK"], 64)
	csu, _ := strconv.ParseFloat(c["CAN-SKIP-UNTIL"], 64)
	if c["CAN-BLOCK-RELOAD"] != "YES" || phb < 3*p.partTarget-1e-9 || csu < 6*p.target {
		t.Errorf("EXT-X-SERVER-CONTROL %v: want CAN-BLOCK-RELOAD=YES, PART-HOLD-BACK >= %v, CAN-SKIP-UNTIL >= %v",
			c, 3*p.partTarget, 6*p.target)
	}
}

// checkLLParts checks part durations (RFC 8216bis 4.4.4.9), that they add
// up to their segment, their URIs, and which segments list parts (6.2.2).
func checkLLParts(t *testing.T, p llPlaylist, k media.Kind) {
	t.Helper()
	if len(p.parts) == 0 {
		t.Fatal("no EXT-X-PART")
	}
	inProgress := p.segs[len(p.segs)-1].msn + 1
	for _, pt := range p.parts {
		if pt.dur > p.partTarget {
			t.Errorf("part %d.%d lasts %v > PART-TARGET %v", pt.msn, pt.index, pt.dur, p.partTarget)
		}
		final := pt.msn != inProgress && pt.index == len(p.partsOf(pt.msn))-1
		if pt.dur < 0.85*p.partTarget && !pt.independent && !final {
			t.Errorf("part %d.%d lasts %v < 85%% of PART-TARGET", pt.msn, pt.index, pt.dur)
		}
		if k == media.KindAudio && !pt.independent {
			t.Errorf("audio part %d.%d not INDEPENDENT", pt.msn, pt.index)
		}
	}
	// The end of the playlist is the end of its last part.
	end, withParts := 0.0, false
	for _, s := range p.segs {
		end += s.dur
	}
	for _, pt := range p.partsOf(inProgress) {
		end += pt.dur
	}
	start := 0.0
	for _, s := range p.segs {
		parts := p.partsOf(s.msn)
		fromEnd := end - start
		start += s.dur
		if len(parts) == 0 {
			if withParts {
				t.Errorf("segment %d lists no parts after a segment that does", s.msn)
			}
			if fromEnd <= 3*p.target {
				t.Errorf("segment %d starts %.3fs from the end and lists no parts", s.msn, fromEnd)
			}
			continue
		}
		withParts = true
		if fromEnd > 3*p.target+1e-9 {
			t.Errorf("segment %d starts %.3fs from the end, more than three target durations, and lists parts", s.msn, fromEnd)
		}
		var sum float64
		for i, pt := range parts {
			sum += pt.dur
			if want := strings.TrimSuffix(s.uri, ".m4s") + "." + strconv.Itoa(i) + ".m4s"; pt.uri != want {
				t.Errorf("part %d of %s is %s, want %s", i, s.uri, pt.uri, want)
			}
		}
		if math.Abs(sum-s.dur) > 0.0005*float64(len(parts)+1) {
			t.Errorf("segment %d: parts add up to %.4fs, EXTINF %.4f", s.msn, sum, s.dur)
		}
	}
	if len(p.partsOf(inProgress)) == 0 {
		t.Errorf("no parts of the segment in progress %d", inProgress)
	}
}

// checkLLBytes fetches every listed part: served like a segment, flagged
// INDEPENDENT exactly when it starts with a sync sample, and the parts of
// a complete segment are its bytes.
func checkLLBytes(t *testing.T, l *llStream, p llPlaylist, k media.Kind) {
	t.Helper()
	got := map[uint64][]byte{}
	for _, pt := range p.parts {
		r := mustGet(t, l.url(pt.uri))
		if r.status != 200 || r.header.Get("Cache-Control") != cacheImmutable ||
			r.header.Get("Content-Length") != strconv.Itoa(len(r.body)) || r.header.Get("Content-Type") != mimeOf(k) {
			t.Fatalf("part %s: %d %v", pt.uri, r.status, r.header)
		}
		var frags fmp4.Parts
		if err := frags.Unmarshal(r.body); err != nil || len(frags) != 1 {
			t.Fatalf("part %s is not one CMAF fragment: %v", pt.uri, err)
		}
		sync := !frags[0].Tracks[0].Samples[0].IsNonSyncSample
		if sync != pt.independent {
			t.Errorf("part %s: INDEPENDENT=%v, first sample sync=%v", pt.uri, pt.independent, sync)
		}
		got[pt.msn] = append(got[pt.msn], r.body...)
	}
	for _, s := range p.segs {
		if b, ok := got[s.msn]; ok {
			if seg := mustGet(t, l.url(s.uri)); !bytes.Equal(seg.body, b) {
				t.Errorf("segment %s (%d bytes) is not its parts (%d bytes)", s.uri, len(seg.body), len(b))
			}
		}
	}
}

// checkWithLibrary reads the playlist with hls-m3u8 in strict mode.
func checkWithLibrary(t *testing.T, body []byte, p llPlaylist) {
	t.Helper()
	pl, typ, err := m3u8.DecodeFrom(bytes.NewReader(body), true)
	if err != nil || typ != m3u8.MEDIA {
		t.Fatalf("hls-m3u8: %v (type %v)", err, typ)
	}
	mp := pl.(*m3u8.MediaPlaylist)
	sc := mp.ServerControl
	if sc == nil || !sc.CanBlockReload || sc.PartHoldBack < 3*mp.PartTargetDuration || mp.PartTargetDuration != p.partTarget {
		t.Errorf("hls-m3u8 server control %+v, part target %v", sc, mp.PartTargetDuration)
	}
	if mp.PreloadHints == nil || mp.PreloadHints.URI != p.hint {
		t.Errorf("hls-m3u8 preload hint %+v, want %s", mp.PreloadHints, p.hint)
	}
	if n := len(mp.PartialSegments); n == 0 || mp.PartialSegments[n-1].URI != p.lastPart().uri {
		t.Errorf("hls-m3u8 parts end differently: %d parts", n)
	}
	if mp.SeqNo != p.mediaSequence || int(mp.Count()) != len(p.segs) {
		t.Errorf("hls-m3u8: sequence %d, %d segments; want %d, %d", mp.SeqNo, mp.Count(), p.mediaSequence, len(p.segs))
	}
}

// With hls.low_latency off, playlists carry no LL-HLS tag, no part is
// served and delivery directives are ignored.
func TestLowLatencyOff(t *testing.T) {
	l := startLLStream(t, func(c *Config) {
		// The window and retention defaults follow low_latency.
		c.HLS.LowLatency, c.Segment.Window, c.Segment.Retain = SwitchOff, 0, 0
	}, 60, 60*8+25)
	if w := l.s.cfg.Segment.Window; w != 6 {
		t.Errorf("window %d, want 6 without low latency", w)
	}
	seg := l.st.SegmentName(media.KindVideo, 5)
	tests := []struct {
		name, path string
		status     int
		cache      string
	}{
		{"playlist", live.PlaylistName(media.KindVideo), 200, "public, max-age=1"},
		{"far msn ignored", live.PlaylistName(media.KindVideo) + "?_HLS_msn=999999", 200, "public, max-age=1"},
		{"part without msn ignored", live.PlaylistName(media.KindAudio) + "?_HLS_part=1", 200, "public, max-age=1"},
		{"malformed ignored", live.PlaylistName(media.KindAudio) + "?_HLS_msn=x&_HLS_skip=NO", 200, "public, max-age=1"},
		{"segment", seg, 200, cacheImmutable},
		{"no part", strings.TrimSuffix(seg, ".m4s") + ".0.m4s", 404, cacheNone},
		{"no next part", l.st.PartName(media.KindVideo, 8, 1), 404, cacheNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Held, it would end in the hold's 503 no-store
			// (TestBlockingReloadTimesOut), which this rejects.
			r := mustGet(t, l.url(tc.path))
			if r.status != tc.status || r.header.Get("Cache-Control") != tc.cache {
				t.Fatalf("%d %q, want %d %q at once", r.status, r.header.Get("Cache-Control"), tc.status, tc.cache)
			}
			for _, tag := range []string{"EXT-X-PART", "EXT-X-SERVER-CONTROL", "EXT-X-PRELOAD-HINT", "EXT-X-RENDITION-REPORT", "EXT-X-SKIP"} {
				if bytes.Contains(r.body, []byte(tag)) {
					t.Errorf("%s with low latency off:\n%s", tag, r.body)
				}
			}
		})
	}
}

// A segment that begins an epoch (after a republish or a codec change)
// follows EXT-X-DISCONTINUITY and its own EXT-X-MAP; its parts are listed,
// and the next part hinted, only once it is complete, so no hint named in
// one epoch is answered with a part of the next.
func TestLowLatencyAcrossEpochs(t *testing.T) {
	// checkNoHint: the playlist hints nothing and lists no part after
	// segment last (with no publisher, it lists no part at all).
	checkNoHint := func(t *testing.T, l *llStream, last uint64) {
		t.Helper()
		for _, k := range []media.Kind{media.KindVideo, media.KindAudio} {
			p := parseLL(t, mustGet(t, l.url(live.PlaylistName(k))).body)
			lastPart := last
			if len(p.parts) > 0 {
				lastPart = p.lastPart().msn
			}
			if p.hint != "" || lastPart != last || p.segs[len(p.segs)-1].msn != last {
				t.Errorf("%s between epochs: hint %q, last part of segment %d, last segment %d; want no hint, parts up to segment %d",
					k, p.hint, lastPart, p.segs[len(p.segs)-1].msn, last)
			}
		}
	}
	// checkNewEpoch: segment first, the first of the epoch with init
	// init, is listed after EXT-X-DISCONTINUITY and EXT-X-MAP, before its
	// parts; the hint is back once the next segment has its first part
	// (none names part 0 of a segment not begun).
	checkNewEpoch := func(t *testing.T, l *llStream, first uint64, init string) {
		t.Helper()
		body := string(mustGet(t, l.url("video.m3u8")).body)
		disc := strings.Index(body, "#EXT-X-DISCONTINUITY\n")
		mapTag := strings.Index(body, `#EXT-X-MAP:URI="`+init+`"`)
		part0 := strings.Index(body, l.st.PartName(media.KindVideo, first, 0))
		if disc < 0 || mapTag < disc || part0 < mapTag {
			t.Errorf("segment %d: discontinuity at %d, map at %d, first part at %d:\n%s", first, disc, mapTag, part0, body)
		}
		p := parseLL(t, []byte(body))
		hintOK := p.hint == "" || strings.Contains(p.hint, "/"+strconv.FormatUint(p.lastPart().msn, 10)+".")
		if !hintOK || !p.hasSeg(first) || p.lastPart().msn < first {
			t.Errorf("after segment %d: hint %q, last part %d", first, p.hint, p.lastPart().msn)
		}
	}

	t.Run("republish", func(t *testing.T) {
		l := startLLStream(t, oneSecondSegments, 30, 30*4+15)
		l.end(t) // completes segment 4
		checkNoHint(t, l, 4)
		st, sess := startSession(t, l.s, "live", mediatest.H264AACTracks(t))
		t.Cleanup(func() { endSession(t, l.s, st, sess) })
		f := &mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 30, Audio: true}
		f.Run(15) // segment 5, the first of epoch 1, has a part
		if _, ok := st.File(st.PartName(media.KindVideo, 5, 0)); !ok {
			t.Fatal("part 5.0 not served")
		}
		checkNoHint(t, l, 4)
		held := getAsync(l.url("video.m3u8?_HLS_msn=5&_HLS_part=0"))
		if r := mustGet(t, l.url(st.PartName(media.KindVideo, 5, 1))); r.status != 404 {
			t.Errorf("part 5.1, not hinted: %d, want 404", r.status)
		}
		l.waitHeld(t, "playlist", 1)
		f.Run(16) // segment 5 completes
		select {
		case r := <-held:
			if p := parseLL(t, r.body); r.status != 200 || !p.hasPart(5, 0) {
				t.Errorf("held request for 5.0: %d\n%s", r.status, r.body)
			}
		case <-time.After(heldAnswerBound):
			t.Fatal("held request for 5.0 not answered once segment 5 was listed")
		}
		checkNewEpoch(t, l, 5, st.InitName(media.KindVideo, 1))
	})

	t.Run("codec change", func(t *testing.T) {
		l := startLLStream(t, oneSecondSegments, 30, 30*4+15)
		t.Cleanup(func() { l.end(t) })
		sps := mediatest.SPS()
		sps[len(sps)-2] ^= 0x01
		if err := l.sess.WriteH264(l.f.VideoTS(l.f.Frame), l.f.VideoTS(l.f.Frame), [][]byte{sps, mediatest.PPS()}, time.Now()); err != nil {
			t.Fatal(err)
		}
		checkNoHint(t, l, 4)
		l.f.SPS = sps
		l.f.Run(15 + 15) // frames up to the keyframe are dropped; segment 5 begins epoch 1
		checkNoHint(t, l, 4)
		l.f.Run(31)
		checkNewEpoch(t, l, 5, l.st.InitName(media.KindVideo, 1))
	})
}
