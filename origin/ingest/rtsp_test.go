package ingest

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/sdp"
	"github.com/pion/rtp"

	"github.com/edgecache/edgecache/origin/media"
)

var portRangeCases = []struct {
	in      string
	want    PortRange
	wantErr bool
}{
	{"8000-8099", PortRange{8000, 8099}, false},
	{"off", PortRange{}, false},
	{"20000-20001", PortRange{20000, 20001}, false},
	{" 8000 - 8003 ", PortRange{8000, 8003}, false},
	{"8001-8099", PortRange{}, true},  // RTP must be even
	{"8000-8098", PortRange{}, true},  // half a pair
	{"8000-8000", PortRange{}, true},  // empty
	{"8100-8000", PortRange{}, true},  // reversed
	{"80-99", PortRange{}, true},      // privileged
	{"8000-70001", PortRange{}, true}, // not a port
	{"8000", PortRange{}, true},
	{"", PortRange{}, true},
	{"a-b", PortRange{}, true},
	{"8000-8099-8199", PortRange{}, true},
}

func TestParsePortRange(t *testing.T) {
	for _, tc := range portRangeCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePortRange(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParsePortRange(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if n := (PortRange{8000, 8099}).Pairs(); n != 50 {
		t.Errorf("pairs %d, want 50", n)
	}
}

// FuzzParsePortRange: an accepted range holds whole RTP/RTCP pairs of
// unprivileged ports, and prints back to itself.
func FuzzParsePortRange(f *testing.F) {
	for _, tc := range portRangeCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil || r == (PortRange{}) {
			return
		}
		if r.Min%2 != 0 || r.Max%2 != 1 || r.Min < 1024 || r.Max > 65535 || r.Pairs() < 1 {
			t.Fatalf("%q accepted as %+v", s, r)
		}
		again, err := ParsePortRange(fmt.Sprintf("%d-%d", r.Min, r.Max))
		if err != nil || again != r {
			t.Fatalf("%+v does not round-trip: %v %v", r, again, err)
		}
	})
}

var rtspPathCases = []struct {
	name, path, query string
	wantName          string
	wantKey           string
	wantErr           bool
}{
	{"plain", "live/cam1", "", "cam1", "", false},
	{"leading slash", "/live/cam1", "", "cam1", "", false},
	{"key", "live/cam1", "key=abc", "cam1", "abc", false},
	{"trailing slash", "live/cam1/", "", "cam1", "", false},
	{"wrong app", "other/cam1", "", "", "", true},
	{"no name", "live", "", "", "", true},
	{"empty name", "live/", "", "", "", true},
	{"control path", "live/cam1/trackID=0", "", "", "", true},
	{"dot dot", "live/..", "", "", "", true},
	{"encoded slash", "live/a%2Fb", "", "", "", true},
	{"bad query", "live/cam1", "key=%zz", "", "", true},
	{"empty", "", "", "", "", true},
}

func TestParseRTSPPath(t *testing.T) {
	for _, tc := range rtspPathCases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := parseRTSPPath(tc.path, tc.query, "live")
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrPublishRejected) {
					t.Errorf("error %v is not a publish rejection", err)
				}
				return
			}
			if req.name != tc.wantName || req.args.Get("key") != tc.wantKey || req.app != "live" {
				t.Errorf("got %+v", req)
			}
		})
	}
}

// FuzzParseRTSPPath: whatever a publisher sends, an accepted stream name
// is a valid one (a single path element).
func FuzzParseRTSPPath(f *testing.F) {
	for _, tc := range rtspPathCases {
		f.Add(tc.path, tc.query)
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		req, err := parseRTSPPath(path, query, "live")
		if err != nil {
			return
		}
		if !ValidStreamName(req.name) || strings.Contains(req.name, "/") {
			t.Fatalf("%q accepted as stream %q", path, req.name)
		}
	})
}

// nopStream records what a receiver opens and writes.
type nopStream struct {
	opened   int
	tracks   [2]*media.Track
	writes   int
	released bool
}

func (s *nopStream) Open(tracks [2]*media.Track, _ bool) Session {
	s.opened++
	s.tracks = tracks
	return nopSession{s}
}
func (s *nopStream) Release() { s.released = true }

type nopSession struct{ s *nopStream }

func (n nopSession) WriteH264(time.Duration, time.Duration, [][]byte, time.Time) error {
	n.s.writes++
	return nil
}

func (n nopSession) WriteH265(time.Duration, time.Duration, [][]byte, time.Time) error {
	n.s.writes++
	return nil
}
func (n nopSession) WriteAV1(time.Duration, [][]byte, time.Time) error { return nil }
func (n nopSession) WriteAudio(time.Duration, []byte, time.Time) error {
	n.s.writes++
	return nil
}
func (nopSession) Close() error { return nil }

const sdpH264AAC = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
	"a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAH6zZQFAFuwEQAAADABAAAAMDwPGDGWA=,aOvjyyLA; profile-level-id=64001F\r\na=control:streamid=0\r\n" +
	"m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n" +
	"a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=1190\r\na=control:streamid=1\r\n"

const sdpH264NoParams = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n"

const sdpVP8PCMA = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\nm=audio 0 RTP/AVP 8\r\n"

const sdpH265Opus = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n" +
	"a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwBdlZgJ; sprop-sps=QgEBAWAAAAMAkAAAAwAAAwBdoAKAgC0WWVmkkyvAWgIAAAMAAgAAAwA8EA==; sprop-pps=RAHBcrRiQA==\r\n" +
	"m=audio 0 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"

// sdpGStreamerLATM is what rtspclientsink announces for H.264 and
// avenc_aac: MP4A-LATM whose ASC carries an SBR sync extension.
const sdpGStreamerLATM = "v=0\r\no=- 1059091276 1 IN IP4 127.0.0.1\r\ns=Session streamed with GStreamer\r\nt=0 0\r\n" +
	"m=audio 0 RTP/AVP 96\r\na=rtpmap:96 MP4A-LATM/48000\r\na=fmtp:96 cpresent=0;config=40002320adca00\r\na=control:stream=1\r\n" +
	"m=video 0 RTP/AVP 99\r\na=rtpmap:99 H264/90000\r\na=fmtp:99 packetization-mode=1;sprop-parameter-sets=Z0LADYyNQKD5APCIRqA=,aM48gA==\r\na=control:stream=0\r\n"

// describe parses an SDP as gortsplib does for ANNOUNCE and DESCRIBE.
func describe(b []byte) (*description.Session, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		return nil, err
	}
	var d description.Session
	if err := d.Unmarshal(&sd); err != nil {
		return nil, err
	}
	return &d, nil
}

func TestSelectFormats(t *testing.T) {
	for _, tc := range []struct {
		name, sdp string
		opened    int // sessions opened from the SDP alone
		tracks    string
		wantErr   bool
	}{
		{"h264 aac", sdpH264AAC, 1, "avc1.64001f,mp4a.40.2", false},
		{"h265 opus", sdpH265Opus, 1, "hvc1.1.6.L93.90,opus", false},
		{"h264 without sprop waits for in-band SPS", sdpH264NoParams, 0, "", false},
		{"vp8 and pcma refused", sdpVP8PCMA, 0, "", true},
		{"gstreamer latm audio skipped, video taken", sdpGStreamerLATM, 1, "avc1.42c00d", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := describe([]byte(tc.sdp))
			if err != nil {
				t.Fatal(err)
			}
			sel, err := selectFormats(d)
			if tc.wantErr {
				if !errors.Is(err, media.ErrUnsupportedCodec) || !strings.Contains(err.Error(), "VP8") {
					t.Fatalf("err %v, want ErrUnsupportedCodec naming VP8", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st := &nopStream{}
			rx, err := newRTPReceiver(st, sel, slog.New(slog.DiscardHandler), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rx.close()
			if st.opened != tc.opened {
				t.Fatalf("opened %d sessions, want %d", st.opened, tc.opened)
			}
			if tc.opened == 0 {
				return
			}
			var codecs []string
			for _, tr := range st.tracks {
				if tr != nil {
					codecs = append(codecs, tr.CodecString())
				}
			}
			if got := strings.Join(codecs, ","); got != tc.tracks {
				t.Errorf("tracks %s, want %s", got, tc.tracks)
			}
		})
	}
}

// FuzzRTSPDescription: any SDP a publisher announces or a camera
// describes, and any RTP packet after it, is refused or taken, never a
// panic. The packager interprets the format choice and the parameter
// sets (sprop-*, config) the library hands over.
func FuzzRTSPDescription(f *testing.F) {
	for _, s := range []string{sdpH264AAC, sdpH264NoParams, sdpVP8PCMA, sdpH265Opus, sdpGStreamerLATM} {
		f.Add([]byte(s), []byte{0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x65, 0x88})
	}
	f.Fuzz(func(t *testing.T, sdpBytes, pkt []byte) {
		d, err := describe(sdpBytes)
		if err != nil {
			return
		}
		sel, err := selectFormats(d)
		if err != nil {
			return
		}
		st := &nopStream{}
		rx, err := newRTPReceiver(st, sel, slog.New(slog.DiscardHandler), nil, nil)
		if err != nil {
			return
		}
		defer rx.close()
		var p rtp.Packet
		if p.Unmarshal(pkt) != nil {
			return
		}
		if sel.video != nil {
			rx.packet(sel.video, &p, int64(p.Timestamp), true)
		}
		if sel.audio != nil {
			rx.packet(sel.audio, &p, int64(p.Timestamp), true)
		}
	})
}

// jitter stays within [d/2, d]: never longer than the backoff asked for,
// never so short that sources retry in a burst.
func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, time.Millisecond, time.Second, 30 * time.Second} {
		for range 200 {
			if j := jitter(d); j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, j, d/2, d)
			}
		}
	}
}
