package origin

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/prometheus/client_golang/prometheus"
)

// In-process test media: a real 1280x720 High-profile SPS/PPS from x264,
// and access units whose slice payloads are filler (the packager never
// decodes them).
func testSPS() []byte { return mustHex("6764001facd9405005bb0110000003001000000303c0f1831960") }
func testPPS() []byte { return mustHex("68ebe3cb22c0") }

// x265 1280x720 Main parameter sets.
func testVPS265() []byte { return mustHex("40010c01ffff01600000030090000003000003005d959809") }
func testSPS265() []byte {
	return mustHex("42010101600000030090000003000003005da00280802d165959a4932bc05a020000030002000003003c10")
}
func testPPS265() []byte { return mustHex("4401c172b46240") }

func testASC() *mpeg4audio.AudioSpecificConfig {
	return &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testAU builds an H.264 access unit: an IDR slice (with in-band SPS/PPS,
// as some encoders send) or a non-IDR slice, tagged with its frame index.
func testAU(frame int, key bool, sps []byte) [][]byte {
	if sps == nil {
		sps = testSPS()
	}
	slice := bytes.Repeat([]byte{0xAB}, 200+frame%50)
	slice[1], slice[2] = byte(frame>>8), byte(frame)
	if key {
		slice[0] = 0x65
		return [][]byte{{0x09, 0xf0}, sps, testPPS(), slice}
	}
	slice[0] = 0x41
	return [][]byte{{0x09, 0xf0}, slice}
}

// testLogger writes to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// newTestServer builds a Server with a fresh registry and no listeners.
func newTestServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(context.Background(), cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// feeder drives a session with synthetic 30 fps video (GOP of gop
// frames) and 48 kHz AAC, interleaved by timestamp like an RTMP encoder.
type feeder struct {
	t        testing.TB
	sess     *session
	fps      int
	gop      int
	base     time.Duration // RTMP timestamp of the first frame
	frame    int
	aframe   int
	audio    bool
	bframes  bool
	onFrame  func(frame int, key bool)
	noAudioN int    // skip audio for the first n video frames
	sps      []byte // in-band SPS of keyframes; nil: testSPS()
}

func (f *feeder) videoTS(i int) time.Duration {
	return f.base + time.Duration(i)*time.Second/time.Duration(f.fps)
}

func (f *feeder) audioTS(i int) time.Duration {
	return f.base + time.Duration(i)*1024*time.Second/48000
}

// run feeds n video frames and the audio that goes with them.
func (f *feeder) run(n int) {
	f.t.Helper()
	for end := f.frame + n; f.frame < end; f.frame++ {
		vts := f.videoTS(f.frame)
		for f.audio && f.audioTS(f.aframe) <= vts {
			if f.frame >= f.noAudioN {
				au := bytes.Repeat([]byte{0x21, byte(f.aframe)}, 100)
				if err := f.sess.writeAudio(f.audioTS(f.aframe).Truncate(time.Millisecond), au, time.Now()); err != nil {
					f.t.Fatal(err)
				}
			}
			f.aframe++
		}
		key := f.frame%f.gop == 0
		dts := vts.Truncate(time.Millisecond)
		pts := dts
		if f.bframes {
			pts += 2 * time.Second / time.Duration(f.fps)
		}
		if err := f.sess.writeH264(pts, dts, testAU(f.frame, key, f.sps), time.Now()); err != nil {
			f.t.Fatal(err)
		}
		if f.onFrame != nil {
			f.onFrame(f.frame, key)
		}
	}
}

func h264AACTracks(t testing.TB) [2]*trackInfo {
	t.Helper()
	v, err := newH264Track(testSPS(), testPPS())
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAACTrack(testASC())
	if err != nil {
		t.Fatal(err)
	}
	return [2]*trackInfo{v, a}
}

// startSession acquires stream name on s and opens a session on it.
func startSession(t testing.TB, s *Server, name string, tracks [2]*trackInfo) (*Stream, *session) {
	t.Helper()
	st, err := s.acquireStream(name)
	if err != nil {
		t.Fatal(err)
	}
	return st, st.newSession(tracks, false)
}

func endSession(t testing.TB, s *Server, st *Stream, sess *session) {
	t.Helper()
	if err := sess.close(); err != nil {
		t.Fatal(err)
	}
	s.releaseStream(st)
}
