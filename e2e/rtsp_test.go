package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// freeUDPPorts finds pairs free RTP/RTCP pairs on loopback, for the
// packager's rtsp.udp_ports.
func freeUDPPorts(t *testing.T, pairs int) string {
	t.Helper()
	for range 50 {
		lo := 20000 + 2*rand.IntN(15000)
		var open []net.PacketConn
		ok := true
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

// freeTCPAddr is a loopback address nothing listens on (when probed).
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func demoClip() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "origin", "ingest", "demo", "demo.flv")
}

func testdata(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "testdata", name)
}

// proc is a tool process the test started; stop ends it (SIGINT first,
// then SIGKILL) and waits. Only this process is signalled.
type proc struct {
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	out    *syncBuf
	done   chan struct{}
	once   sync.Once
}

type syncBuf struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, name, args...)
	p := &proc{name: filepath.Base(name), cmd: cmd, cancel: cancel, out: &syncBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) stop() {
	p.once.Do(func() {
		p.cancel()
		<-p.done
	})
}

// exited reports whether the process ended on its own.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// probeCodecs runs ffprobe on url and returns the sorted codec names.
func probeCodecs(t *testing.T, url string) string {
	t.Helper()
	ffprobe := needTool(t, "ffprobe")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var probe struct {
		Streams []struct {
			Codec string `json:"codec_name"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		t.Fatal(err)
	}
	var codecs []string
	for _, st := range probe.Streams {
		codecs = append(codecs, st.Codec)
	}
	sort.Strings(codecs)
	return strings.Join(dedupe(codecs), ",")
}

// checkPlays waits for the stream and probes it from the packager and
// through the edge.
func checkPlays(t *testing.T, s *stack, name string, p *proc, want string) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		resp, err := http.Get(s.edgeURL + "/hls/" + name + ".m3u8")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), "EXT-X-STREAM-INF") {
				break
			}
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s never appeared; %s said:\n%s", name, p.name, p.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct{ name, url string }{
		{"packager HLS", s.pk.HLSURL(name)},
		{"edge HLS", s.edgeURL + "/hls/" + name + ".m3u8"},
		{"edge DASH", s.edgeURL + "/dash/" + name + ".mpd"},
	} {
		if got := probeCodecs(t, tc.url); got != want {
			t.Errorf("%s: ffprobe found %q, want %s; %s said:\n%s", tc.name, got, want, p.name, p.out.String())
		} else {
			t.Logf("%s: %s", tc.name, got)
		}
	}
}

// ffmpeg pushes the demo clip over RTSP, RTP interleaved (TCP) and over
// UDP from the packager's port range.
func TestRTSPFFmpegPush(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			cfg := origin.Config{}
			cfg.RTSP.UDPPorts = freeUDPPorts(t, 1)
			s := startStack(t, cfg, false)
			base := s.pk.StartRTSP(t)
			p := startProc(t, ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-stream_loop", "-1",
				"-i", demoClip(), "-c", "copy", "-f", "rtsp", "-rtsp_transport", tr, base+"ff"+tr)
			checkPlays(t, s, "ff"+tr, p, "aac,h264")
		})
	}
}

// GStreamer's rtspclientsink (gst-rtsp-server's RECORD client) pushes a
// live H.264 + Opus source. (Its AAC goes out as MP4A-LATM with a config
// mediacommon misreads, see latmASC; that audio is refused.)
func TestRTSPGStreamerPush(t *testing.T) {
	gst := needTool(t, "gst-launch-1.0")
	needTool(t, "ffprobe")
	cfg := origin.Config{}
	cfg.RTSP.UDPPorts = freeUDPPorts(t, 1)
	s := startStack(t, cfg, false)
	base := s.pk.StartRTSP(t)
	pipeline := "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! openh264enc gop-size=60 ! h264parse ! s.sink_0 " +
		"audiotestsrc is-live=true ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=2 ! opusenc ! s.sink_1 " +
		"rtspclientsink name=s protocols=tcp location=" + base + "gst"
	p := startProc(t, gst, append([]string{"-q", "-e"}, strings.Fields(pipeline)...)...)
	checkPlays(t, s, "gst", p, "h264,opus")
}

// startCamera runs gst-rtsp-server as a camera on addr (host:port) and
// waits until it listens.
func startCamera(t *testing.T, addr string) *proc {
	t.Helper()
	py := needTool(t, "/usr/bin/python3")
	needTool(t, "gst-launch-1.0")
	_, port, _ := net.SplitHostPort(addr)
	var p *proc
	deadline := time.Now().Add(20 * time.Second)
	for {
		p = startProc(t, py, testdata("rtsp_camera.py"), port)
		for !strings.Contains(p.out.String(), "ready") && !p.exited() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if strings.Contains(p.out.String(), "ready") {
			return p
		}
		p.stop()
		if time.Now().After(deadline) {
			t.Fatalf("camera did not start:\n%s", p.out.String())
		}
		time.Sleep(200 * time.Millisecond) // the port may linger after the last camera
	}
}

// The packager pulls a camera (gst-rtsp-server) over TCP and UDP; the
// camera drops and comes back, it is pulled again, and the playlist
// continues behind a discontinuity.
func TestRTSPPullCamera(t *testing.T) {
	needTool(t, "ffprobe")
	for _, tr := range []string{"tcp", "udp"} {
		t.Run(tr, func(t *testing.T) {
			camAddr := freeTCPAddr(t)
			cam := startCamera(t, camAddr)
			cfg := origin.Config{}
			cfg.RTSP.UDPPorts = freeUDPPorts(t, 3)
			cfg.RTSP.RetryMin, cfg.RTSP.RetryMax = 200*time.Millisecond, time.Second
			cfg.RTSP.ReadTimeout = 3 * time.Second
			cfg.RTSP.Sources = []origin.RTSPSource{{Name: "cam", URL: "rtsp://" + camAddr + "/cam", Transport: tr}}
			s := startStack(t, cfg, false)
			checkPlays(t, s, "cam", cam, "aac,h264")
			for _, st := range s.pk.Server.RTSPSources() {
				if st.Transport != strings.ToUpper(tr) {
					t.Errorf("source status %+v, want transport %s", st, tr)
				}
			}

			mediaURL := s.pk.URL + "/hls/cam/video.m3u8"
			last := lastSeq(t, mediaURL)
			cam.stop()
			waitSourceState(t, s, "retrying")
			cam2 := startCamera(t, camAddr)
			deadline := time.Now().Add(40 * time.Second)
			var pl string
			for {
				pl = get(t, mediaURL)
				if seqOf(pl) >= 0 && lastListed(pl) >= last+2 && strings.Contains(pl, "#EXT-X-DISCONTINUITY") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no segments behind a discontinuity after the camera came back (last before %d):\n%s\ncamera:\n%s",
						last, pl, cam2.out.String())
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("camera back: segment %d and on, behind EXT-X-DISCONTINUITY", last+1)
			if got := probeCodecs(t, s.edgeURL+"/hls/cam.m3u8"); got != "aac,h264" {
				t.Errorf("after the reconnect ffprobe found %q", got)
			}
		})
	}
}

func waitSourceState(t *testing.T, s *stack, state string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, st := range s.pk.Server.RTSPSources() {
			if st.State == state {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("source never %s: %+v", state, s.pk.Server.RTSPSources())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// seqOf is a media playlist's EXT-X-MEDIA-SEQUENCE, -1 if none.
func seqOf(pl string) int {
	for _, l := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// lastListed is the media sequence number of the last full segment.
func lastListed(pl string) int {
	n := seqOf(pl) - 1
	sc := bufio.NewScanner(strings.NewReader(pl))
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

func lastSeq(t *testing.T, url string) int {
	t.Helper()
	return lastListed(get(t, url))
}

// hls.js and dash.js play an RTSP-published stream through the edge.
func TestRTSPBrowserPlayersThroughEdge(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	cfg := origin.Config{}
	cfg.RTSP.UDPPorts = "off"
	s := startStack(t, cfg, false)
	base := s.pk.StartRTSP(t)
	p := startProc(t, ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-stream_loop", "-1",
		"-i", demoClip(), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", base+"play")
	checkPlays(t, s, "play", p, "aac,h264")
	browsersPlay(t, s.edgeURL, "play")
}

// ffmpeg pushes H.265 with B-frames (x265, 2 s GOP) and Opus: every
// segment is one GOP and EXT-X-TARGETDURATION stays 2, which takes DTS
// that include the reordering delay from the first segment on.
func TestRTSPFFmpegPushH265(t *testing.T) {
	ffmpeg := needTool(t, "ffmpeg")
	needTool(t, "ffprobe")
	cfg := origin.Config{}
	cfg.RTSP.UDPPorts = "off"
	s := startStack(t, cfg, false)
	base := s.pk.StartRTSP(t)
	p := startProc(t, ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=60:min-keyint=60:bframes=3:log-level=error",
		"-c:a", "libopus", "-f", "rtsp", "-rtsp_transport", "tcp", base+"hevc")
	checkPlays(t, s, "hevc", p, "hevc,opus")
	deadline := time.Now().Add(40 * time.Second)
	var pl string
	for {
		pl = get(t, s.pk.URL+"/hls/hevc/video.m3u8")
		if strings.Count(pl, "#EXTINF:") >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 segments:\n%s", pl)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(pl, "#EXT-X-TARGETDURATION:2\n") {
		t.Errorf("target duration is not 2:\n%s", pl)
	}
	for _, l := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(l, "#EXTINF:"); ok {
			if d, _ := strconv.ParseFloat(strings.TrimSuffix(v, ","), 64); d > 2.05 {
				t.Errorf("segment of %.3f s, want one 2 s GOP:\n%s", d, pl)
			}
		}
	}
}
