// Package mediatest is the packager's test media, shared by the tests of
// its layers (media, live, ingest, origin): a real H.264, H.265 and AAC
// configuration, access units whose slice payloads are filler (the
// packager never decodes them), a Feeder that publishes them like an RTMP
// encoder, a logger that writes to the test, and the attribute-list
// reader the playlist checks use. Media for unit tests is built in
// process; end-to-end tests use the real ffmpeg.
package mediatest

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/edgecache/edgecache/origin/media"
)

// SPS and PPS are a real 1280x720 High-profile parameter set from x264.
func SPS() []byte { return mustHex("6764001facd9405005bb0110000003001000000303c0f1831960") }

// PPS goes with SPS.
func PPS() []byte { return mustHex("68ebe3cb22c0") }

// VPS265, SPS265 and PPS265 are x265 1280x720 Main parameter sets.
func VPS265() []byte { return mustHex("40010c01ffff01600000030090000003000003005d959809") }

// SPS265 goes with VPS265.
func SPS265() []byte {
	return mustHex("42010101600000030090000003000003005da00280802d165959a4932bc05a020000030002000003003c10")
}

// PPS265 goes with VPS265.
func PPS265() []byte { return mustHex("4401c172b46240") }

// ASC is 48 kHz stereo AAC-LC.
func ASC() *mpeg4audio.AudioSpecificConfig {
	return &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// AU builds an H.264 access unit: an IDR slice (with in-band SPS/PPS,
// as some encoders send) or a non-IDR slice, tagged with its frame index.
// A nil sps means SPS().
func AU(frame int, key bool, sps []byte) [][]byte {
	if sps == nil {
		sps = SPS()
	}
	slice := bytes.Repeat([]byte{0xAB}, 200+frame%50)
	slice[1], slice[2] = byte(frame>>8), byte(frame)
	if key {
		slice[0] = 0x65
		return [][]byte{{0x09, 0xf0}, sps, PPS(), slice}
	}
	slice[0] = 0x41
	return [][]byte{{0x09, 0xf0}, slice}
}

// H264AACTracks are the tracks of SPS/PPS and ASC.
func H264AACTracks(t testing.TB) [2]*media.Track {
	t.Helper()
	v, err := media.NewH264Track(SPS(), PPS())
	if err != nil {
		t.Fatal(err)
	}
	a, err := media.NewAACTrack(ASC())
	if err != nil {
		t.Fatal(err)
	}
	return [2]*media.Track{v, a}
}

// Logger writes to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Session is what a Feeder publishes to (a *media.Session).
type Session interface {
	WriteH264(pts, dts time.Duration, au [][]byte, arrival time.Time) error
	WriteAudio(pts time.Duration, payload []byte, arrival time.Time) error
}

// Feeder drives a session with synthetic video at FPS (a keyframe every
// GOP frames) and, with Audio, 48 kHz AAC, interleaved by timestamp like
// an RTMP encoder.
type Feeder struct {
	T       testing.TB
	Sess    Session
	FPS     int
	GOP     int
	Base    time.Duration // RTMP timestamp of the first frame
	Frame   int           // the next video frame
	AFrame  int           // the next audio frame
	Audio   bool
	BFrames bool
	// OnFrame is called after each video frame.
	OnFrame func(frame int, key bool)
	// NoAudioN skips the audio of the first n video frames.
	NoAudioN int
	// SPS is the in-band SPS of keyframes; nil: SPS().
	SPS []byte
}

// VideoTS is video frame i's timestamp.
func (f *Feeder) VideoTS(i int) time.Duration {
	return f.Base + time.Duration(i)*time.Second/time.Duration(f.FPS)
}

// AudioTS is audio frame i's timestamp.
func (f *Feeder) AudioTS(i int) time.Duration {
	return f.Base + time.Duration(i)*1024*time.Second/48000
}

// Run feeds n video frames and the audio that goes with them.
func (f *Feeder) Run(n int) {
	f.T.Helper()
	for end := f.Frame + n; f.Frame < end; f.Frame++ {
		vts := f.VideoTS(f.Frame)
		for f.Audio && f.AudioTS(f.AFrame) <= vts {
			if f.Frame >= f.NoAudioN {
				au := bytes.Repeat([]byte{0x21, byte(f.AFrame)}, 100)
				if err := f.Sess.WriteAudio(f.AudioTS(f.AFrame).Truncate(time.Millisecond), au, time.Now()); err != nil {
					f.T.Fatal(err)
				}
			}
			f.AFrame++
		}
		key := f.Frame%f.GOP == 0
		dts := vts.Truncate(time.Millisecond)
		pts := dts
		if f.BFrames {
			pts += 2 * time.Second / time.Duration(f.FPS)
		}
		if err := f.Sess.WriteH264(pts, dts, AU(f.Frame, key, f.SPS), time.Now()); err != nil {
			f.T.Fatal(err)
		}
		if f.OnFrame != nil {
			f.OnFrame(f.Frame, key)
		}
	}
}

// Attrs splits an HLS attribute list; quoted values lose their quotes.
func Attrs(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, _ := strings.Cut(s, "=")
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`) + 1
			v, rest = rest[1:end], rest[end+1:]
		} else {
			v, rest, _ = strings.Cut(rest, ",")
			rest = "," + rest
		}
		out[k] = v
		s = strings.TrimPrefix(rest, ",")
	}
	return out
}
