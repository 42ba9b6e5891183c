package ingest

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

var streamIDCases = []struct {
	name     string
	id       string
	resource string
	args     url.Values
	err      error // nil: accepted
}{
	{"publish", "publish:live/cam", "live/cam", url.Values{}, nil},
	{"publish with key", "publish:live/cam?key=s3cret&x=1", "live/cam", url.Values{"key": {"s3cret"}, "x": {"1"}}, nil},
	{"leading slash", "publish:/live/cam", "live/cam", url.Values{}, nil},
	{"access control", "#!::r=live/cam,m=publish", "live/cam", url.Values{}, nil},
	{"access control with key and user", "#!::u=alice,r=live/cam,m=publish,key=k1", "live/cam", url.Values{"u": {"alice"}, "key": {"k1"}}, nil},
	{"access control stream type", "#!::r=live/cam,m=publish,t=stream", "live/cam", url.Values{}, nil},
	{"access control default mode is request", "#!::r=live/cam", "", nil, errNotPublish},
	{"access control file type", "#!::r=live/cam,m=publish,t=file", "", nil, ErrBadStreamID},
	{"access control no value", "#!::r=live/cam,m", "", nil, ErrBadStreamID},
	{"read mode", "read:live/cam", "", nil, errNotPublish},
	{"request mode", "request:live/cam", "", nil, errNotPublish},
	{"no mode", "live/cam", "", nil, ErrBadStreamID},
	{"empty", "", "", nil, ErrBadStreamID},
	{"no resource", "publish:", "", nil, ErrBadStreamID},
	{"bad query", "publish:live/cam?a=%zz", "", nil, ErrBadStreamID},
	{"control character", "#!::r=live/c\x00am,m=publish", "", nil, ErrBadStreamID},
	{"question mark in resource", "#!::r=live/c?am,m=publish", "", nil, ErrBadStreamID},
	{"too long", "publish:live/" + string(bytes.Repeat([]byte{'a'}, maxStreamIDLen)), "", nil, ErrBadStreamID},
}

func TestParseSRTStreamID(t *testing.T) {
	for _, tc := range streamIDCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSRTStreamID(tc.id)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.mode != "publish" || got.resource != tc.resource || !reflect.DeepEqual(got.args, tc.args) {
				t.Errorf("got %+v, want resource %q args %v", got, tc.resource, tc.args)
			}
		})
	}
}

// FuzzParseSRTStreamID: any stream id gives a value or an error, never a
// panic, and what is accepted re-encodes to a stream id that parses to
// the same value.
func FuzzParseSRTStreamID(f *testing.F) {
	for _, tc := range streamIDCases {
		f.Add(tc.id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got, err := parseSRTStreamID(id)
		if err != nil {
			if !errors.Is(err, ErrBadStreamID) {
				t.Fatalf("error %v does not wrap ErrBadStreamID", err)
			}
			return
		}
		again, err := parseSRTStreamID(got.String())
		if err != nil {
			t.Fatalf("%q parsed, its re-encoding %q did not: %v", id, got.String(), err)
		}
		if again.resource != got.resource || again.mode != got.mode || len(again.args) != len(got.args) {
			t.Fatalf("%q: %+v re-parses as %+v", id, got, again)
		}
	})
}

// fakeStream records what a publish opens.
type fakeStream struct{ opened [2]*media.Track }

func (f *fakeStream) Open(tracks [2]*media.Track, _ bool) Session {
	f.opened = tracks
	return srtNopSession{}
}
func (f *fakeStream) Release() {}

type srtNopSession struct{}

func (srtNopSession) WriteH264(_, _ time.Duration, _ [][]byte, _ time.Time) error { return nil }
func (srtNopSession) WriteH265(_, _ time.Duration, _ [][]byte, _ time.Time) error { return nil }
func (srtNopSession) WriteAV1(_ time.Duration, _ [][]byte, _ time.Time) error     { return nil }
func (srtNopSession) WriteAudio(_ time.Duration, _ []byte, _ time.Time) error     { return nil }
func (srtNopSession) Close() error                                                { return nil }

// TestTSUnsupportedCodecs: MPEG-TS whose tracks the packager cannot
// package is refused with ErrUnsupportedCodec naming them.
func TestTSUnsupportedCodecs(t *testing.T) {
	var buf bytes.Buffer
	track := &mpegts.Track{Codec: &mpegts.CodecMPEG1Audio{}}
	w := &mpegts.Writer{W: &buf, Tracks: []*mpegts.Track{track}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	// An MPEG-1 Layer II frame header (48 kHz, 128 kb/s, stereo) and padding.
	frame := append([]byte{0xff, 0xfd, 0x84, 0x00}, make([]byte, 380)...)
	for i := range 10 {
		if err := w.WriteMPEG1Audio(track, int64(i)*2160, [][]byte{frame}); err != nil {
			t.Fatal(err)
		}
	}
	r := &mpegts.Reader{R: &buf}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	fs := &fakeStream{}
	_, err := newTSSession(fs, r, nil)
	if !errors.Is(err, media.ErrUnsupportedCodec) {
		t.Fatalf("err = %v, want ErrUnsupportedCodec", err)
	}
	if fs.opened != [2]*media.Track{} {
		t.Errorf("a session was opened: %v", fs.opened)
	}
	t.Log(err)
}

// tsSample is a short MPEG-TS of H.264 (SPS/PPS in band) and AAC, for
// fuzz seeds.
func tsSample(t testing.TB) []byte {
	var buf bytes.Buffer
	video := &mpegts.Track{Codec: &mpegts.CodecH264{}}
	audio := &mpegts.Track{Codec: &mpegts.CodecMPEG4Audio{Config: *mediatest.ASC()}}
	w := &mpegts.Writer{W: &buf, Tracks: []*mpegts.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := w.WriteMPEG4Audio(audio, int64(i)*3000, [][]byte{{0x21, 0x10, byte(i)}}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteH264(video, int64(i)*3000, int64(i)*3000, mediatest.AU(i, i%4 == 0, nil)); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// srtMessages reads like an SRT connection: a message per Read.
type srtMessages struct{ r io.Reader }

func (m srtMessages) Read(p []byte) (int, error) {
	if len(p) > 1316 {
		p = p[:1316]
	}
	return m.r.Read(p)
}

// FuzzTSIngest: whatever a publisher sends as MPEG-TS ends the publish
// with an error or goes through, never a panic: the demuxer, the
// parameter-set search and the tracks built from what it finds.
func FuzzTSIngest(f *testing.F) {
	f.Add(tsSample(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		// As from SRT: messages of up to 1316 bytes (seven TS packets).
		r := &mpegts.Reader{R: mpegts.NewBufferedReader(&probeLimit{r: srtMessages{bytes.NewReader(data)}, left: 64 << 10})}
		if err := r.Initialize(); err != nil {
			return
		}
		ts, err := newTSSession(&fakeStream{}, r, nil)
		if err != nil {
			return
		}
		for range 10000 {
			if err := r.Read(); err != nil || ts.err != nil {
				return
			}
		}
	})
}
