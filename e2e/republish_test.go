package e2e

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// publish runs ffmpeg publishing a test source to url until ctx ends or
// stop is called. The GOP is 2 s at 30 fps, as the command.
func publish(t *testing.T, ctx context.Context, url string) (stop func()) {
	ffmpeg := needTool(t, "ffmpeg")
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440",
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60",
		"-c:a", "aac", "-f", "flv", url)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

var uriRe = regexp.MustCompile(`(?m)^[^#\s][^\s]*$`)

// watchURLs records the hash of every segment the edge's media playlists
// list, the first time each is seen.
type watchURLs struct {
	mu     sync.Mutex
	hashes map[string][32]byte
}

func (w *watchURLs) poll(t *testing.T, base string, playlists []string) {
	for _, pl := range playlists {
		resp, err := http.Get(base + pl)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		dir := pl[:len(pl)-len(regexp.MustCompile(`[^/]*$`).FindString(pl))]
		for _, u := range uriRe.FindAllString(string(b), -1) {
			full := dir + u
			w.mu.Lock()
			_, seen := w.hashes[full]
			w.mu.Unlock()
			if seen {
				continue
			}
			r, err := http.Get(base + full)
			if err != nil || r.StatusCode != 200 {
				continue
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			w.mu.Lock()
			w.hashes[full] = sha256.Sum256(body)
			w.mu.Unlock()
		}
	}
}

// TestRepublishKeepsPlaying: the publisher drops and comes back while
// hls.js plays through the edge; playback goes on across the discontinuity
// and no URL ever serves two different contents.
func TestRepublishKeepsPlaying(t *testing.T) { republishKeepsPlaying(t, false) }

// TestRepublishKeepsPlayingLowLatency: the same with hls.js in low-latency
// mode, on blocking reloads and parts.
func TestRepublishKeepsPlayingLowLatency(t *testing.T) { republishKeepsPlaying(t, true) }

func republishKeepsPlaying(t *testing.T, lowLatency bool) {
	// A 6-segment window, so the discontinuity slides out within the run.
	s := startStack(t, origin.Config{Segment: origin.SegmentConfig{Window: 6}}, false)
	ctx := context.Background()
	pubURL := s.pk.PublishURL("rep")
	stop1 := publish(t, ctx, pubURL)
	waitPlaylist(t, s.edgeURL+"/hls/rep.m3u8", "EXT-X-STREAM-INF", 30*time.Second)

	// Find the media playlists to watch.
	resp, err := http.Get(s.edgeURL + "/hls/rep.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	mv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var media []string
	for _, u := range regexp.MustCompile(`(?m)^[^#\s].*$|URI="([^"]+)"`).FindAllStringSubmatch(string(mv), -1) {
		if u[1] != "" {
			media = append(media, "/hls/"+u[1])
		} else {
			media = append(media, "/hls/"+u[0])
		}
	}
	w := &watchURLs{hashes: map[string][32]byte{}}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWatch(); wg.Wait() }() // also when the test fails early
	wg.Add(1)
	go func() {
		defer wg.Done()
		for watchCtx.Err() == nil {
			w.poll(t, s.edgeURL, media)
			select {
			case <-watchCtx.Done():
			case <-time.After(time.Second):
			}
		}
	}()

	// hls.js plays until its currentTime has advanced 35 s. Of that, the
	// first publisher can supply only the few seconds played before it
	// drops (at most 1.5 times the while below, with low-latency
	// catch-up) and what it had listed ahead of the player (hls.js plays
	// three target durations, 6 s, behind the live edge): well under
	// half. The rest is played after the republish, across the
	// discontinuity, and is long enough for the discontinuity to slide out
	// of the window.
	const want = 35 * time.Second
	needPlayers(t)
	started := make(chan struct{})
	type outcome struct {
		res playResult
		err error
	}
	result := make(chan outcome, 1)
	go func() {
		res, err := runPlayer(t, playSpec{player: "hls", url: s.edgeURL + "/hls/rep.m3u8", played: want, lowLatency: lowLatency, started: started})
		result <- outcome{res, err}
	}()
	select {
	case <-started:
	case out := <-result:
		t.Fatalf("hls.js ended before it began playing: %v %+v", out.err, out.res)
	}
	// The publisher drops while hls.js plays: after a while of playback
	// (on a slower machine, a while of less) and for a gap as a dropped
	// encoder leaves; neither while decides the outcome.
	time.Sleep(5 * time.Second)
	stop1()
	t.Log("publisher dropped")
	time.Sleep(3 * time.Second)
	publish(t, ctx, pubURL)
	t.Log("publisher back")
	out := <-result
	stopWatch()
	wg.Wait()
	if out.err != nil {
		t.Fatal(out.err)
	}
	res := out.res

	if n := s.rejections(t); n > 0 {
		t.Errorf("the edge's sanity gate rejected %v of the packager's playlists across the republish", n)
	}
	if len(res.Fatal) > 0 {
		t.Fatalf("hls.js fatal errors across the republish: %v", res.Fatal)
	}
	if res.PlayedSeconds < want.Seconds() {
		t.Fatalf("hls.js played %.1f s of %v across the republish before the failsafe (%v more)", res.PlayedSeconds, want, playerSlack)
	}
	// Every URL seen, fetched again now: the same bytes.
	changed := 0
	for u, h := range w.hashes {
		r, err := http.Get(s.pk.URL + u)
		if err != nil || r.StatusCode != 200 {
			continue // left the window and the availability period
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if sha256.Sum256(b) != h {
			changed++
			t.Errorf("%s serves different content after the republish", u)
		}
	}
	t.Logf("%d URLs watched across the republish, %d changed", len(w.hashes), changed)
	if len(w.hashes) < 10 {
		t.Fatalf("watched only %d URLs", len(w.hashes))
	}
}
