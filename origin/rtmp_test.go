package origin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// serveRTMP runs s.ServeRTMP on ln until the test ends.
func serveRTMP(t *testing.T, s *Server, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeRTMP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRTMP: %v", err)
		}
	})
}

// publishFast publishes d of synthetic media as fast as the connection
// takes it (timestamps, not the wall clock, drive segmenting).
func publishFast(t *testing.T, c *gortmplib.Client, video, audio *gortmplib.Track, d time.Duration) {
	t.Helper()
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	aframe := 0
	for i := 0; time.Duration(i)*time.Second/30 < d; i++ {
		ts := time.Duration(i) * time.Second / 30
		key := i%60 == 0
		for {
			var ats time.Duration
			var err error
			switch audio.Codec.(type) {
			case *rtmpcodecs.Opus:
				ats = time.Duration(aframe) * 20 * time.Millisecond
				if ats > ts {
					break
				}
				err = w.WriteOpus(audio, ats, []byte{0xf8, 0xff, 0xfe}) // CELT FB 20 ms
			default:
				ats = time.Duration(aframe) * 1024 * time.Second / 48000
				if ats > ts {
					break
				}
				err = w.WriteMPEG4Audio(audio, ats, []byte{0x21, 0x10, byte(aframe)})
			}
			if ats > ts {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			aframe++
		}
		var err error
		switch video.Codec.(type) {
		case *rtmpcodecs.H265:
			typ := byte(1) // TRAIL_R
			if key {
				typ = 19 // IDR_W_RADL
			}
			err = w.WriteH265(video, ts, ts, [][]byte{{typ << 1, 1, 0xaf, byte(i)}})
		default:
			err = w.WriteH264(video, ts, ts, mediatest.AU(i, key, nil))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitSegments waits until stream name lists n video segments, with the
// liveness failsafe.
func waitSegments(t *testing.T, s *Server, name string, n int) *live.Stream {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		if st := s.Stream(name); st != nil {
			if got := len(st.Segments(media.KindVideo)); got >= n {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s has not listed %d video segments after %v (liveness failsafe)", name, n, liveness)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Enhanced RTMP delivers H.265 and Opus; they come out as hvc1 and Opus
// CMAF tracks.
func TestEnhancedRTMPH265Opus(t *testing.T) {
	s := newTestServer(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveRTMP(t, s, ln)
	u, _ := url.Parse("rtmp://" + ln.Addr().String() + "/live#hevc")
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	video := &gortmplib.Track{Codec: &rtmpcodecs.H265{VPS: mediatest.VPS265(), SPS: mediatest.SPS265(), PPS: mediatest.PPS265()}}
	audio := &gortmplib.Track{Codec: &rtmpcodecs.Opus{IDHeader: &opus.IDHeader{Version: 1, ChannelCount: 2, PreSkip: 312, InputSampleRate: 48000}}}
	publishFast(t, c, video, audio, 7*time.Second)
	st := waitSegments(t, s, "hevc", 2)
	mv, ok := st.File(live.NameMultivariant)
	if !ok {
		t.Fatal("no multivariant playlist")
	}
	if b := body(t, mv); !strings.Contains(string(b), `CODECS="hvc1.1.6.L93.90,opus"`) {
		t.Errorf("multivariant:\n%s", b)
	}
	for _, seg := range st.Segments(media.KindVideo) {
		if d := seg.Duration.Seconds(); d < 1.99 || d > 2.01 {
			t.Errorf("h265 segment %d lasts %.3f", seg.MSN, d)
		}
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestRTMPS(t *testing.T) {
	s := newTestServer(t, nil)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveRTMP(t, s, tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}))
	u, _ := url.Parse("rtmps://" + raw.Addr().String() + "/live#secure")
	c := &gortmplib.Client{URL: u, Publish: true, TLSConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // test cert
	if err := c.Initialize(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	video := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: mediatest.SPS(), PPS: mediatest.PPS()}}
	audio := &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: mediatest.ASC()}}
	publishFast(t, c, video, audio, 5*time.Second)
	waitSegments(t, s, "secure", 2)
}
