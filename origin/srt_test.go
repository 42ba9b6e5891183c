package origin

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	srt "github.com/datarhei/gosrt"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// serveSRT runs s.ServeSRT on a loopback listener until the test ends and
// returns its address.
func serveSRT(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := ListenSRT("127.0.0.1:0", s.Config().SRT)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeSRT(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeSRT: %v", err)
		}
	})
	return ln.Addr().String()
}

// srtDial connects to addr with gosrt's own caller, as an encoder would.
func srtDial(addr, streamID, passphrase string) (srt.Conn, error) {
	cfg := srt.DefaultConfig()
	cfg.StreamId = streamID
	cfg.Passphrase = passphrase
	return srt.Dial("srt", addr, cfg)
}

// tsStart puts the first timestamp two seconds before the 33-bit MPEG-TS
// clock wraps (ISO/IEC 13818-1 2.4.3.7), so every publish crosses it.
const tsStart = 1<<33 - 2*90000

// publishTS writes d of synthetic 30 fps video (a keyframe every two
// seconds, SPS/PPS in band) and 48 kHz AAC to conn as MPEG-TS, at four
// times real time: SRT live mode paces by the wall clock, and a burst
// far beyond it loses packets to the receiver's latency window.
func publishTS(t *testing.T, conn srt.Conn, hevc bool, d time.Duration) {
	t.Helper()
	publishTSAudio(t, conn, hevc, false, d)
}

// publishTSAudio is publishTS with Opus (20 ms CELT packets) instead of
// AAC when opusAudio is set.
func publishTSAudio(t *testing.T, conn srt.Conn, hevc, opusAudio bool, d time.Duration) {
	t.Helper()
	var video *mpegts.Track
	if hevc {
		video = &mpegts.Track{Codec: &mpegts.CodecH265{}}
	} else {
		video = &mpegts.Track{Codec: &mpegts.CodecH264{}}
	}
	audio := &mpegts.Track{Codec: &mpegts.CodecMPEG4Audio{Config: *mediatest.ASC()}}
	frame := int64(1024 * 90000 / 48000)
	if opusAudio {
		audio = &mpegts.Track{Codec: &mpegts.CodecOpus{ChannelCount: 2}}
		frame = 20 * 90
	}
	// One SRT packet carries up to 1316 bytes: seven TS packets.
	bw := bufio.NewWriterSize(conn, 1316)
	w := &mpegts.Writer{W: bw, Tracks: []*mpegts.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	aframe := 0
	for i := 0; time.Duration(i)*time.Second/30 < d; i++ {
		vts := int64(i) * 3000
		for ats := int64(aframe) * frame; ats <= vts; ats = int64(aframe) * frame {
			var err error
			if opusAudio {
				err = w.WriteOpus(audio, (tsStart+ats)&(1<<33-1), [][]byte{{0xf8, 0xff, 0xfe}}) // CELT FB 20 ms
			} else {
				err = w.WriteMPEG4Audio(audio, (tsStart+ats)&(1<<33-1), [][]byte{{0x21, 0x10, byte(aframe)}})
			}
			if err != nil {
				t.Fatal(err)
			}
			aframe++
		}
		key := i%60 == 0
		ts := (tsStart + vts) & (1<<33 - 1)
		var err error
		if hevc {
			err = w.WriteH265(video, ts, ts, hevcAU(i, key))
		} else {
			err = w.WriteH264(video, ts, ts, mediatest.AU(i, key, nil))
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second / 30 / 4)
	}
}

// hevcAU is an H.265 access unit: an IDR with VPS/SPS/PPS in band, or a
// trailing picture.
func hevcAU(frame int, key bool) [][]byte {
	slice := make([]byte, 200+frame%50)
	slice[2], slice[3] = byte(frame>>8), byte(frame)
	if key {
		slice[0], slice[1] = 19<<1, 1 // IDR_W_RADL
		return [][]byte{mediatest.VPS265(), mediatest.SPS265(), mediatest.PPS265(), slice}
	}
	slice[0], slice[1] = 1<<1, 1 // TRAIL_R
	return [][]byte{slice}
}

// TestSRTPublish: encoders' stream ids, both codecs, publish into the same
// streams RTMP does.
func TestSRTPublish(t *testing.T) {
	s := newTestServer(t, nil)
	addr := serveSRT(t, s)
	tests := []struct {
		name, streamID, stream, codecs string
		hevc, opus                     bool
	}{
		{"publish form", "publish:live/cam", "cam", `CODECS="avc1.64001f,mp4a.40.2"`, false, false},
		{"access control", "#!::r=live/ac,m=publish", "ac", `CODECS="avc1.64001f,mp4a.40.2"`, false, false},
		{"h265", "publish:live/hevc", "hevc", `CODECS="hvc1.1.6.L93.90,mp4a.40.2"`, true, false},
		{"opus", "publish:live/opus", "opus", `CODECS="avc1.64001f,opus"`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := srtDial(addr, tc.streamID, "")
			if err != nil {
				t.Fatal(err)
			}
			publishTSAudio(t, conn, tc.hevc, tc.opus, 7*time.Second)
			st := waitSegments(t, s, tc.stream, 2)
			conn.Close()
			mv, ok := st.File(live.NameMultivariant)
			if !ok {
				t.Fatal("no multivariant playlist")
			}
			if b := body(t, mv); !strings.Contains(string(b), tc.codecs) {
				t.Errorf("multivariant, want %s:\n%s", tc.codecs, b)
			}
			// Timestamps cross the 33-bit wrap: segments keep their length.
			segs := st.Segments(media.KindVideo)
			for _, seg := range segs[:len(segs)-1] { // the last may be cut short by the end
				if d := seg.Duration.Seconds(); d < 1.99 || d > 2.01 {
					t.Errorf("segment %d lasts %.3f s", seg.MSN, d)
				}
			}
		})
	}
}

// TestSRTRefusals: one case per refusal; the caller's Dial fails in the
// handshake and no stream appears.
func TestSRTRefusals(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.Auth.Streams = []StreamKey{{Name: "keyed", Key: "s3cret"}}
		c.Auth.RejectUnknown = true
		c.SRT.Passphrase = "0123456789abc"
	})
	addr := serveSRT(t, s)
	const pass = "0123456789abc"
	tests := []struct {
		name, streamID, passphrase string
	}{
		{"no passphrase", "publish:live/keyed?key=s3cret", ""},
		{"wrong passphrase", "publish:live/keyed?key=s3cret", "wrongwrongwrong"},
		{"wrong key", "publish:live/keyed?key=nope", pass},
		{"no key", "publish:live/keyed", pass},
		{"unknown stream", "publish:live/other", pass},
		{"wrong app", "publish:vod/keyed?key=s3cret", pass},
		{"play mode", "read:live/keyed?key=s3cret", pass},
		{"access control default mode", "#!::r=live/keyed,key=s3cret", pass},
		{"bad name", "publish:live/../x", pass},
		{"empty", "", pass},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := srtDial(addr, tc.streamID, tc.passphrase)
			if err == nil {
				conn.Close()
				t.Fatalf("%q was accepted", tc.streamID)
			}
		})
	}
	for _, name := range []string{"keyed", "other", "x"} {
		if st := s.Stream(name); st != nil {
			t.Errorf("stream %s exists after refusals", name)
		}
	}
	// The right passphrase and key are let in, in both stream id forms.
	for _, id := range []string{"publish:live/keyed?key=s3cret", "#!::r=live/keyed,m=publish,key=s3cret"} {
		conn, err := srtDial(addr, id, pass)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		conn.Close()
		// The next form claims the same stream: wait until the server has
		// seen this publisher leave, or it is refused as busy.
		waitFor(t, "keyed released", liveness, func() bool {
			st := s.Stream("keyed")
			return st == nil || !st.IsPublishing()
		})
	}
}

// TestSRTBusyAndRepublish: a second publisher of a live stream is refused;
// after the first leaves, a republish continues the stream behind a
// discontinuity, as with RTMP.
func TestSRTBusyAndRepublish(t *testing.T) {
	s := newTestServer(t, nil)
	addr := serveSRT(t, s)
	first, err := srtDial(addr, "publish:live/re", "")
	if err != nil {
		t.Fatal(err)
	}
	publishTS(t, first, false, 5*time.Second)
	st := waitSegments(t, s, "re", 2)
	if c, err := srtDial(addr, "publish:live/re", ""); err == nil {
		c.Close()
		t.Fatal("a second publisher of a live stream was accepted")
	}
	first.Close()
	// The claim is released once the server sees the connection end.
	deadline := time.Now().Add(liveness)
	for st.IsPublishing() {
		if time.Now().After(deadline) {
			t.Fatalf("the stream is still publishing %v after its publisher left (liveness failsafe)", liveness)
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := len(st.Segments(media.KindVideo))
	second, err := srtDial(addr, "publish:live/re", "")
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	publishTS(t, second, false, 5*time.Second)
	deadline = time.Now().Add(liveness)
	for {
		v, _ := st.File(live.PlaylistName(media.KindVideo))
		if v != nil && strings.Contains(string(body(t, v)), "#EXT-X-DISCONTINUITY") && len(st.Segments(media.KindVideo)) > before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the republish has not continued the stream behind a discontinuity after %v (liveness failsafe)", liveness)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
