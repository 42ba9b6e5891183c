package origin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/origin/ingest"
	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// spsPOC2 is an x264 320x240 SPS without B-frames (pic_order_cnt_type
// 2): the DTS of each access unit is its PTS, so filler slices need no
// readable slice header.
func spsPOC2() []byte {
	b, _ := hex.DecodeString("6764000dacb20283f60220000003002000000781e28549")
	return b
}

// serveRTSP runs s.ServeRTSP on a loopback port until the test ends and
// returns host:port.
func serveRTSP(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeRTSP(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeRTSP: %v", err)
		}
	})
	return ln.Addr().String()
}

// freeTCPAddr is a loopback address nothing listens on (free when
// probed), for a camera the test starts and restarts there.
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// freeUDPPair is the RTP port of one free RTP/RTCP pair on loopback.
func freeUDPPair(t *testing.T) int {
	t.Helper()
	lo, _ := strconv.Atoi(strings.Split(freeUDPPorts(t, 1), "-")[0])
	return lo
}

// freeUDPPorts finds a range of n free RTP/RTCP pairs on loopback (free
// when probed).
func freeUDPPorts(t *testing.T, pairs int) string {
	t.Helper()
	for range 50 {
		lo := 20000 + 2*rand.IntN(15000)
		ok := true
		var open []net.PacketConn
		for p := lo; p < lo+2*pairs; p++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			open = append(open, c)
		}
		for _, c := range open {
			_ = c.Close()
		}
		if ok {
			return fmt.Sprintf("%d-%d", lo, lo+2*pairs-1)
		}
	}
	t.Fatal("no free UDP port range")
	return ""
}

// rtpFeed packetizes synthetic H.264 (or H.265) and AAC (or Opus) and
// hands the packets to write, media time driven by the frame count.
type rtpFeed struct {
	desc         *description.Session
	video, audio *description.Media
	write        func(*description.Media, *rtp.Packet) error

	h264     *format.H264
	h265     *format.H265
	aac      *format.MPEG4Audio
	opus     *format.Opus
	frame    int
	aframe   int
	tsOffset uint32

	// One encoder per format: each keeps its RTP sequence numbers.
	h264Enc interface {
		Encode([][]byte) ([]*rtp.Packet, error)
	}
	aacEnc interface {
		Encode([][]byte) ([]*rtp.Packet, error)
	}
	opusEnc interface {
		Encode([]byte) (*rtp.Packet, error)
	}
}

func (f *rtpFeed) initEncoders() {
	var err error
	switch {
	case f.h264 != nil:
		f.h264Enc, err = f.h264.CreateEncoder()
	case f.h265 != nil:
		f.h264Enc, err = f.h265.CreateEncoder()
	}
	if err != nil {
		panic(err)
	}
	switch {
	case f.aac != nil:
		f.aacEnc, err = f.aac.CreateEncoder()
	case f.opus != nil:
		f.opusEnc, err = f.opus.CreateEncoder()
	}
	if err != nil {
		panic(err)
	}
}

func newH264AACFeed() *rtpFeed {
	f := &rtpFeed{
		h264: &format.H264{PayloadTyp: 96, SPS: spsPOC2(), PPS: mediatest.PPS(), PacketizationMode: 1},
		aac: &format.MPEG4Audio{PayloadTyp: 97, Config: mediatest.ASC(), SizeLength: 13, IndexLength: 3,
			IndexDeltaLength: 3},
		tsOffset: 123456,
	}
	f.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f.h264}}
	f.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f.aac}}
	f.desc = &description.Session{Medias: []*description.Media{f.video, f.audio}}
	f.initEncoders()
	return f
}

func newH265OpusFeed() *rtpFeed {
	f := &rtpFeed{
		h265: &format.H265{PayloadTyp: 96, VPS: mediatest.VPS265(), SPS: mediatest.SPS265(), PPS: mediatest.PPS265()},
		opus: &format.Opus{PayloadTyp: 111, ChannelCount: 2},
	}
	f.video = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f.h265}}
	f.audio = &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f.opus}}
	f.desc = &description.Session{Medias: []*description.Media{f.video, f.audio}}
	f.initEncoders()
	return f
}

// next sends one video frame (30 fps, a keyframe every 2 s) and the audio
// up to it.
func (f *rtpFeed) next() error {
	i := f.frame
	f.frame++
	vts := uint32(i*3000) + f.tsOffset // 90 kHz
	key := i%60 == 0
	for {
		var pkts []*rtp.Packet
		switch {
		case f.aac != nil:
			at := f.aframe * 1024 // 48 kHz
			if at*90/48 > i*3000 {
				break
			}
			p, err := f.aacEnc.Encode([][]byte{{0x21, 0x10, byte(f.aframe)}})
			if err != nil {
				return err
			}
			for _, pk := range p {
				pk.Timestamp = uint32(at) + f.tsOffset
			}
			pkts = p
		case f.opus != nil:
			at := f.aframe * 960 // 20 ms at 48 kHz
			if at*90/48 > i*3000 {
				break
			}
			p, err := f.opusEnc.Encode([]byte{0xf8, 0xff, 0xfe})
			if err != nil {
				return err
			}
			p.Timestamp = uint32(at) + f.tsOffset
			pkts = []*rtp.Packet{p}
		}
		if pkts == nil {
			break
		}
		for _, p := range pkts {
			if err := f.write(f.audio, p); err != nil {
				return err
			}
		}
		f.aframe++
	}
	var pkts []*rtp.Packet
	var err error
	if f.h264 != nil {
		pkts, err = f.h264Enc.Encode(mediatest.AU(i, key, spsPOC2()))
	} else {
		// Every frame an IDR: the H.265 DTS extractor reads the slice
		// headers of other pictures, which filler slices do not have.
		pkts, err = f.h264Enc.Encode([][]byte{{19 << 1, 1, 0xaf, byte(i)}})
	}
	if err != nil {
		return err
	}
	for _, p := range pkts {
		p.Timestamp = vts
		if err := f.write(f.video, p); err != nil {
			return err
		}
	}
	return nil
}

// publishRTSP pushes d of media to stream name on s at url with
// gortsplib's client over transport, as fast as the server takes it.
// After each keyframe it waits until the server has listed the segment
// that keyframe closes, so that at most one GOP (60 video and some 94
// audio packets) is in flight: over UDP a burst beyond the server's
// socket buffer (208 KiB by default: some 160 of these video packets) is
// lost when its reader is held up, as on a busy machine, and over either
// transport Close drops what the client has queued and not yet sent.
func publishRTSP(t *testing.T, s *Server, name, url string, tr gortsplib.Transport, f *rtpFeed, d time.Duration) {
	t.Helper()
	c := &gortsplib.Client{Transport: &tr, WriteQueueSize: 4096}
	if err := c.StartRecording(url, f.desc); err != nil {
		t.Fatalf("record %s: %v", url, err)
	}
	defer c.Close()
	f.write = c.WritePacketRTP
	for time.Duration(f.frame)*time.Second/30 < d {
		key := f.frame%60 == 0
		if err := f.next(); err != nil {
			t.Fatal(err)
		}
		if !key || f.frame == 1 {
			continue
		}
		st := s.Stream(name)
		if st == nil {
			t.Fatalf("stream %s does not exist while publishing", name)
		}
		want := (f.frame - 1) / 60 // keyframe k closes segment k-1: k listed
		deadline := time.After(liveness)
		for {
			changed := st.Changed()
			if len(st.Segments(media.KindVideo)) >= want {
				break
			}
			select {
			case <-changed:
			case <-deadline:
				t.Fatalf("%v after keyframe %d was sent, %s lists %d of its %d segments (liveness failsafe)",
					liveness, want, name, len(st.Segments(media.KindVideo)), want)
			}
		}
	}
}

// rmemMax is the largest receive buffer the system grants a socket
// (net.core.rmem_max).
func rmemMax(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		t.Fatalf("net.core.rmem_max: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("net.core.rmem_max %q: %v", b, err)
	}
	return n
}

// TestRTSPReadBufferRefused: a udp_read_buffer the system will not grant
// stops the RTSP server with an error that says so, instead of running
// with less than the operator asked for.
func TestRTSPReadBufferRefused(t *testing.T) {
	ports := freeUDPPorts(t, 1)
	s := newTestServer(t, func(c *Config) { c.RTSP.UDPPorts, c.RTSP.UDPReadBuffer = ports, rmemMax(t)+4096 })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.ServeRTSP(ctx, ln) }()
	select {
	case err = <-done:
	case <-time.After(liveness):
		cancel()
		<-done
		t.Fatalf("ServeRTSP still running %v on, with a read buffer above net.core.rmem_max", liveness)
	}
	t.Logf("ServeRTSP: %v", err)
	if err == nil || !strings.Contains(err.Error(), "read buffer") {
		t.Fatalf("ServeRTSP: %v, want the read buffer refused", err)
	}
}

func TestRTSPPublish(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tr     gortsplib.Transport
		feed   func() *rtpFeed
		codecs string
		slack  float64 // segment duration tolerance, s
		// readBuffer sets rtsp.udp_read_buffer to as much as the system
		// allows, up to 1 MiB.
		readBuffer bool
	}{
		{"tcp h264 aac", gortsplib.TransportTCP, newH264AACFeed, `CODECS="avc1.64000d,mp4a.40.2"`, 0.01, false},
		{"udp h264 aac", gortsplib.TransportUDP, newH264AACFeed, `CODECS="avc1.64000d,mp4a.40.2"`, 0.01, false},
		{"udp h264 aac, udp_read_buffer", gortsplib.TransportUDP, newH264AACFeed, `CODECS="avc1.64000d,mp4a.40.2"`, 0.01, true},
		// Every H.265 frame is a keyframe (see rtpFeed.next): cuts fall
		// near, not on, 2 s.
		{"tcp h265 opus", gortsplib.TransportTCP, newH265OpusFeed, `CODECS="hvc1.1.6.L93.90,opus"`, 0.15, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ports := "off"
			if tc.tr == gortsplib.TransportUDP {
				ports = freeUDPPorts(t, 1)
			}
			buf := 0
			if tc.readBuffer {
				buf = min(1<<20, rmemMax(t))
			}
			s := newTestServer(t, func(c *Config) { c.RTSP.UDPPorts, c.RTSP.UDPReadBuffer = ports, buf })
			addr := serveRTSP(t, s)
			publishRTSP(t, s, "cam", "rtsp://"+addr+"/live/cam", tc.tr, tc.feed(), 7*time.Second)
			st := waitSegments(t, s, "cam", 2)
			mv, ok := st.File(live.NameMultivariant)
			if !ok {
				t.Fatal("no multivariant playlist")
			}
			if b := body(t, mv); !strings.Contains(string(b), tc.codecs) {
				t.Errorf("multivariant, want %s:\n%s", tc.codecs, b)
			}
			segs := st.Segments(media.KindVideo)
			for _, seg := range segs[:len(segs)-1] { // the last was cut short by the TEARDOWN
				if d := seg.Duration.Seconds(); d < 2-tc.slack || d > 2+tc.slack {
					t.Errorf("segment %d lasts %.3f, want 2 s (one GOP)", seg.MSN, d)
				}
			}
		})
	}
}

// With udp_ports off the server refuses UDP: RFC 2326 12.39 answer 461.
func TestRTSPUDPOff(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.RTSP.UDPPorts = "off" })
	addr := serveRTSP(t, s)
	tr := gortsplib.TransportUDP
	c := &gortsplib.Client{Transport: &tr}
	err := c.StartRecording("rtsp://"+addr+"/live/cam", newH264AACFeed().desc)
	if err == nil {
		c.Close()
		t.Fatal("UDP SETUP accepted with udp_ports off")
	}
	checkStatus(t, err, base.StatusUnsupportedTransport)
}

func checkStatus(t *testing.T, err error, want base.StatusCode) {
	t.Helper()
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != want {
		t.Fatalf("got %v, want status %d", err, want)
	}
}

// Refusals reach the publisher as the ANNOUNCE status and count as
// publish rejections by reason, as for RTMP.
func TestRTSPPublishRejected(t *testing.T) {
	s := newTestServer(t, func(c *Config) {
		c.RTSP.UDPPorts = "off"
		c.Auth.Streams = []StreamKey{{Name: "keyed", Key: "s3cret"}}
	})
	addr := serveRTSP(t, s)
	vp8 := &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{&format.VP8{PayloadTyp: 96}},
	}}}
	busy := newH264AACFeed()
	c := &gortsplib.Client{}
	if err := c.StartRecording("rtsp://"+addr+"/live/busy", busy.desc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name, path string
		desc       *description.Session
		want       base.StatusCode
	}{
		{"wrong app", "/other/cam", nil, base.StatusBadRequest},
		{"no name", "/live", nil, base.StatusBadRequest},
		{"bad name", "/live/..", nil, base.StatusBadRequest},
		{"wrong key", "/live/keyed?key=nope", nil, base.StatusForbidden},
		{"no key", "/live/keyed", nil, base.StatusForbidden},
		{"unsupported codec", "/live/vp8", vp8, base.StatusUnsupportedMediaType},
		{"busy", "/live/busy", nil, base.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			desc := tc.desc
			if desc == nil {
				desc = newH264AACFeed().desc
			}
			c := &gortsplib.Client{}
			err := c.StartRecording("rtsp://"+addr+tc.path, desc)
			if err == nil {
				c.Close()
				t.Fatal("publish accepted")
			}
			checkStatus(t, err, tc.want)
		})
	}
	// The right key publishes.
	c2 := &gortsplib.Client{}
	if err := c2.StartRecording("rtsp://"+addr+"/live/keyed?key=s3cret", newH264AACFeed().desc); err != nil {
		t.Fatalf("right key refused: %v", err)
	}
	c2.Close()
}

// camera is an RTSP server playing a synthetic stream, as an IP camera
// does, on a fixed loopback address so it can come back after a drop.
type camera struct {
	t      *testing.T
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
	ready  atomic.Pointer[gortsplib.ServerStream] // stream, once initialised
	feed   *rtpFeed
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

type cameraHandler struct{ c *camera }

// The server accepts connections before the stream exists (it needs the
// started server): until then DESCRIBE and SETUP get 503.
func (h cameraHandler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if st := h.c.ready.Load(); st != nil {
		return &base.Response{StatusCode: base.StatusOK}, st, nil
	}
	return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
}

func (h cameraHandler) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if st := h.c.ready.Load(); st != nil {
		return &base.Response{StatusCode: base.StatusOK}, st, nil
	}
	return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
}

func (h cameraHandler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// startCamera serves the feed at rtsp://addr/cam, 3x faster than real
// time, until stopCamera; udp is "rtp,rtcp" ports or "".
func startCamera(t *testing.T, addr string, udpRTP int, tsOffset uint32) *camera {
	t.Helper()
	c := &camera{t: t, feed: newH264AACFeed(), stop: make(chan struct{}), done: make(chan struct{})}
	c.feed.tsOffset = tsOffset
	c.srv = &gortsplib.Server{Handler: cameraHandler{c}, RTSPAddress: addr}
	if udpRTP != 0 {
		c.srv.UDPRTPAddress = "127.0.0.1:" + strconv.Itoa(udpRTP)
		c.srv.UDPRTCPAddress = "127.0.0.1:" + strconv.Itoa(udpRTP+1)
	}
	var err error
	for range 100 { // the address may linger a moment after the last camera
		if err = c.srv.Start(); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("camera: %v", err)
	}
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: c.feed.desc}
	if err := c.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	c.ready.Store(c.stream)
	c.feed.write = c.stream.WritePacketRTP
	go func() {
		defer close(c.done)
		tick := time.NewTicker(11 * time.Millisecond)
		defer tick.Stop()
		for range 30 * 120 { // at most 2 minutes of media
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			if err := c.feed.next(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *camera) close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.stream.Close()
		c.srv.Close()
	})
}

func sourceState(s *Server, name string) ingest.SourceStatus {
	for _, st := range s.RTSPSources() {
		if st.Name == name {
			return st
		}
	}
	return ingest.SourceStatus{}
}

// The packager pulls a camera over TCP and UDP; when the camera drops
// and comes back it is pulled again and the stream continues behind a
// discontinuity, with continuing sequence numbers, as an RTMP republish.
func TestRTSPPullReconnects(t *testing.T) {
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			ports := freeUDPPorts(t, 4)
			camUDP := 0
			if tr == "udp" {
				camUDP = freeUDPPair(t)
			}
			camAddr := freeTCPAddr(t)
			cam := startCamera(t, camAddr, camUDP, 1000)
			s := newTestServer(t, func(c *Config) {
				c.RTSP.UDPPorts = ports
				c.RTSP.RetryMin, c.RTSP.RetryMax = 50*time.Millisecond, 200*time.Millisecond
				c.RTSP.ReadTimeout = 2 * time.Second
				c.RTSP.Sources = []RTSPSource{{Name: "cam", URL: "rtsp://u:p@" + camAddr + "/cam", Transport: tr}}
			})
			st := waitSegments(t, s, "cam", 2)
			if got := sourceState(s, "cam"); got.State != ingest.SourcePlaying || got.Transport != strings.ToUpper(tr) {
				t.Errorf("status %+v, want playing over %s", got, tr)
			}
			before := len(st.Segments(media.KindVideo))
			lastBefore := st.Segments(media.KindVideo)[before-1].MSN

			cam.close()
			waitFor(t, "source retrying", liveness, func() bool { return sourceState(s, "cam").State == ingest.SourceRetrying })
			startCamera(t, camAddr, camUDP, 999999) // a new RTP timeline, as after a camera reboot
			waitFor(t, "segments after the camera came back", liveness, func() bool {
				segs := st.Segments(media.KindVideo)
				return len(segs) > 0 && segs[len(segs)-1].MSN >= lastBefore+2
			})
			if got := sourceState(s, "cam"); got.Connects < 2 {
				t.Errorf("connects %d, want 2", got.Connects)
			}
			pl, ok := st.File(live.PlaylistName(media.KindVideo))
			if !ok {
				t.Fatal("no video playlist")
			}
			b := string(body(t, pl))
			if !strings.Contains(b, "#EXT-X-DISCONTINUITY\n") {
				t.Errorf("no discontinuity after the camera came back:\n%s", b)
			}
		})
	}
}

// waitFor polls cond, as a failsafe bounded by within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: not after %v (liveness failsafe)", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRTSPPullReadBufferRefused: a pull over UDP with a udp_read_buffer
// the system will not grant fails with the reason in the source's status
// (and is retried), rather than playing with less.
func TestRTSPPullReadBufferRefused(t *testing.T) {
	camAddr := freeTCPAddr(t)
	startCamera(t, camAddr, freeUDPPair(t), 1000)
	s := newTestServer(t, func(c *Config) {
		c.RTSP.UDPPorts = freeUDPPorts(t, 2)
		c.RTSP.UDPReadBuffer = rmemMax(t) + 4096
		c.RTSP.RetryMin, c.RTSP.RetryMax = 50*time.Millisecond, 200*time.Millisecond
		c.RTSP.Sources = []RTSPSource{{Name: "cam", URL: "rtsp://" + camAddr + "/cam", Transport: "udp"}}
	})
	waitFor(t, "the read buffer refused", liveness, func() bool {
		st := sourceState(s, "cam")
		return st.State == ingest.SourceRetrying && strings.Contains(st.LastError, "read buffer")
	})
	if s.Stream("cam") != nil {
		t.Fatal("a stream was published with a read buffer the system refused")
	}
}

// A source with no packageable format is retried, with the reason in its
// status, and never claims the stream.
func TestRTSPPullUnsupported(t *testing.T) {
	addr := freeTCPAddr(t)
	c := &camera{feed: &rtpFeed{}}
	c.feed.desc = &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{&format.VP8{PayloadTyp: 96}},
	}}}
	c.srv = &gortsplib.Server{Handler: cameraHandler{c}, RTSPAddress: addr}
	if err := c.srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.srv.Close()
	c.stream = &gortsplib.ServerStream{Server: c.srv, Desc: c.feed.desc}
	if err := c.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	c.ready.Store(c.stream)
	defer c.stream.Close()
	s := newTestServer(t, func(cfg *Config) {
		cfg.RTSP.UDPPorts = "off"
		cfg.RTSP.Sources = []RTSPSource{{Name: "vp8", URL: "rtsp://" + addr + "/cam"}}
	})
	waitFor(t, "unsupported reported", liveness, func() bool {
		st := sourceState(s, "vp8")
		return st.State == ingest.SourceRetrying && strings.Contains(st.LastError, "VP8")
	})
	if s.Stream("vp8") != nil {
		t.Error("an unsupported source claimed its stream")
	}
}

// Close ends RTSP publishers, pulled sources and the RTSP server, and
// every goroutine they started.
func TestRTSPCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	camAddr := freeTCPAddr(t)
	cam := startCamera(t, camAddr, 0, 0)
	cfg := DefaultConfig()
	cfg.RTSP.UDPPorts = "off"
	cfg.RTSP.Sources = []RTSPSource{{Name: "pulled", URL: "rtsp://" + camAddr + "/cam", Transport: "tcp"}}
	s, err := New(context.Background(), cfg, mediatest.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeRTSP(context.Background(), rl) }()
	tr := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tr}
	feed := newH264AACFeed()
	if err := c.StartRecording("rtsp://"+rl.Addr().String()+"/live/pushed", feed.desc); err != nil {
		t.Fatal(err)
	}
	feed.write = c.WritePacketRTP
	for range 70 {
		if err := feed.next(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both streams publishing", liveness, func() bool {
		a, b := s.Stream("pulled"), s.Stream("pushed")
		return a != nil && a.IsPublishing() && b != nil && b.IsPublishing()
	})
	s.Close()
	if err := <-served; err != nil {
		t.Errorf("ServeRTSP after Close: %v", err)
	}
	if st := s.Stream("pushed"); st.IsPublishing() {
		t.Error("pushed stream still publishing after Close")
	}
	c.Close()
	cam.close()
	// Poll for the last goroutines to exit, with the liveness failsafe:
	// a leaked goroutine never does.
	deadline := time.Now().Add(liveness)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d %v after Close:\n%s", before, runtime.NumGoroutine(), liveness, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A pull over UDP skips a pair of the range that another process holds.
func TestRTSPPullSkipsBusyPair(t *testing.T) {
	ports := freeUDPPorts(t, 4)
	lo, _ := strconv.Atoi(strings.Split(ports, "-")[0])
	// The first pair a pull would take (the server's is lo, lo+1).
	busy, err := net.ListenPacket("udp", ":"+strconv.Itoa(lo+2))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	camAddr := freeTCPAddr(t)
	startCamera(t, camAddr, freeUDPPair(t), 0)
	s := newTestServer(t, func(c *Config) {
		c.RTSP.UDPPorts = ports
		c.RTSP.Sources = []RTSPSource{{Name: "cam", URL: "rtsp://" + camAddr + "/cam", Transport: "udp"}}
	})
	waitSegments(t, s, "cam", 1)
	if st := sourceState(s, "cam"); st.State != ingest.SourcePlaying || st.Transport != "UDP" {
		t.Errorf("status %+v, want playing over UDP", st)
	}
}

func TestParseConfigRTSP(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		wantErr    string
	}{
		{"defaults", "", ""},
		{"full", "rtsp:\n  listen: \":8554\"\n  udp_ports: \"9000-9009\"\n  read_timeout: 5s\n  retry_min: 2s\n  retry_max: 1m\n  udp_read_buffer: 4194304\n" +
			"  sources:\n    - name: cam1\n      url: rtsp://u:p@10.0.0.1:554/s1\n      transport: udp\n    - name: cam2\n      url: rtsps://10.0.0.2/s\n", ""},
		{"udp off", "rtsp:\n  udp_ports: \"off\"\n", ""},
		{"odd first port", "rtsp:\n  udp_ports: \"9001-9010\"\n", "MIN must be even"},
		{"not a range", "rtsp:\n  udp_ports: \"9000\"\n", "want MIN-MAX"},
		{"negative read buffer", "rtsp:\n  udp_read_buffer: -1\n", "rtsp.udp_read_buffer"},
		{"retry max below min", "rtsp:\n  retry_min: 10s\n  retry_max: 1s\n", "retry_max"},
		{"bad transport", "rtsp:\n  sources:\n    - name: c\n      url: rtsp://h/s\n      transport: quic\n", "transport \"quic\""},
		{"udp without ports", "rtsp:\n  udp_ports: \"off\"\n  sources:\n    - name: c\n      url: rtsp://h/s\n      transport: udp\n", "needs rtsp.udp_ports"},
		{"not rtsp", "rtsp:\n  sources:\n    - name: c\n      url: http://h/s\n", "url must be rtsp://"},
		{"bad name", "rtsp:\n  sources:\n    - name: a/b\n      url: rtsp://h/s\n", "invalid stream name"},
		{"duplicate", "rtsp:\n  sources:\n    - name: c\n      url: rtsp://h/s\n    - name: c\n      url: rtsp://h/t\n", "duplicate"},
		{"typo", "rtsp:\n  udp_port: \"9000-9009\"\n", "udp_port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.RTSP.UDPPorts == "" || c.RTSP.ReadTimeout == 0 || c.RTSP.RetryMax == 0 {
					t.Errorf("defaults not applied: %+v", c.RTSP)
				}
				for _, s := range c.RTSP.Sources {
					if s.Transport == "" {
						t.Errorf("source %s without a transport", s.Name)
					}
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want ErrInvalidConfig mentioning %q", err, tc.wantErr)
			}
		})
	}
}
