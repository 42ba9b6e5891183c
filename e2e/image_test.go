package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
	"github.com/edgecache/edgecache/origin/origintest"
)

// TestImage builds the container image the way `make image` does
// (scripts/image.sh: static binaries, FROM scratch, nothing pulled) and
// runs it with podman: the image's edge in front of a packager on the
// host, configured by environment variables only, then the image's
// packager on its own. Host networking lets the container reach the
// host's loopback.
func TestImage(t *testing.T) {
	pm := newPodman(t)
	tag := "localhost/edgecache:e2e-" + randomHex(t, 6)

	// Build. The image goes when the test ends, after the containers
	// (cleanups run last-registered first).
	start := time.Now()
	out, err := pm.script(t, 10*time.Minute, "scripts/image.sh", "IMAGE="+tag)
	t.Cleanup(func() { pm.cmd(t, time.Minute, "rmi", "--force", tag) })
	if err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", err, out)
	}
	t.Logf("image built in %v: %s", time.Since(start).Round(100*time.Millisecond), strings.TrimSpace(out))

	img := pm.inspectImage(t, tag)
	t.Logf("image size %d bytes (%.1f MiB)", img.Size, float64(img.Size)/(1<<20))
	if got := img.Config.User; got != "65532:65532" {
		t.Errorf("image USER %q, want 65532:65532", got)
	}
	if got := img.Config.Entrypoint; len(got) != 1 || got[0] != "/edgecache" {
		t.Errorf("image ENTRYPOINT %q, want [/edgecache]", got)
	}
	if got := img.Config.Cmd; len(got) != 0 {
		t.Errorf("image CMD %q, want none: config comes from the environment", got)
	}
	for _, p := range []string{"8081", "9091", "1935", "8088"} {
		if !hasPort(img.Config.ExposedPorts, p) {
			t.Errorf("image does not EXPOSE %s (exposes %v)", p, img.Config.ExposedPorts)
		}
	}
	for _, l := range []string{"title", "source", "version", "revision", "created"} {
		if img.Config.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s missing (labels %v)", l, img.Config.Labels)
		}
	}

	t.Run("edge", func(t *testing.T) { testImageEdge(t, pm, tag) })
	t.Run("packager", func(t *testing.T) { testImagePackager(t, pm, tag) })
}

// testImageEdge runs the image's default entrypoint, the edge, in front of
// a packager on the host playing the demo stream.
func testImageEdge(t *testing.T, pm *podman, tag string) {
	pk := origintest.Start(t, origin.Config{})
	pk.StartDemo(t, "demo")
	listen, admin := freeLoopback(t), freeLoopback(t)
	c := pm.run(t, "edge", tag, []string{
		"EDGECACHE_ORIGIN=" + pk.URL,
		"EDGECACHE_LISTEN=" + listen,
		"EDGECACHE_ADMIN_LISTEN=" + admin,
		"EDGECACHE_CACHE_SIZE=64MiB",
		"EDGECACHE_LOG_FORMAT=json",
		// The drain's limit only bounds a drain that hangs: 20 s, so that
		// a busy machine finishes a good one well inside it, and podman
		// stop's SIGKILL (30 s, c.stop below) comes after it.
		"EDGECACHE_SHUTDOWN_GRACE=1s",
		"EDGECACHE_SHUTDOWN_TIMEOUT=20s",
	}, nil)
	c.waitOK(t, "http://"+admin+"/healthz", 30*time.Second)

	// Non-root: the process itself, seen from the host.
	if got := pm.inspect(t, c.name, "{{.Config.User}}"); got != "65532:65532" {
		t.Errorf("container user %q, want 65532:65532", got)
	}
	pid := pm.inspect(t, c.name, "{{.State.Pid}}")
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("container process %s: %v", pid, err)
	}
	if uid := regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)`).FindSubmatch(status); uid == nil ||
		string(uid[1]) != "65532" || string(uid[2]) != "65532" {
		t.Errorf("edgecache runs as %q, want uid 65532", uid)
	}

	// What the image ships besides the binaries.
	dir := t.TempDir()
	pm.copyOut(t, c.name, "/etc/ssl/certs/ca-certificates.crt", dir)
	pm.copyOut(t, c.name, "/etc/passwd", dir)
	want, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "ca-certificates.crt")); !bytes.Equal(got, want) {
		t.Errorf("image CA bundle (%d bytes) is not the host's (%d bytes)", len(got), len(want))
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "passwd")); !bytes.Contains(got, []byte("\nnonroot:x:65532:65532:")) {
		t.Errorf("image /etc/passwd does not name uid 65532 nonroot:\n%s", got)
	}

	// The stream, through the containerised edge.
	base := "http://" + listen
	waitPlaylist(t, base+"/hls/demo.m3u8", "#EXT-X-STREAM-INF", 30*time.Second)
	mv := c.get(t, base+"/hls/demo.m3u8")
	video := firstMatch(t, uriRe, mv.body, "variant URI in the multivariant playlist")
	audio := firstMatch(t, regexp.MustCompile(`TYPE=AUDIO[^\n]*URI="([^"]+)"`), mv.body, "audio URI in the multivariant playlist")
	videoURL := base + "/hls/" + video
	waitPlaylist(t, videoURL, "#EXTINF", 30*time.Second)
	vpl := c.get(t, videoURL)
	initURI := firstMatch(t, regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`), vpl.body, "EXT-X-MAP in the media playlist")
	initURL := dirOf(videoURL) + initURI
	init := c.get(t, initURL)
	if typ := boxType(init.body); typ != "ftyp" {
		t.Errorf("init segment %s starts with box %q, want ftyp", initURL, typ)
	}
	if again := c.get(t, initURL); again.cache != "HIT" {
		t.Errorf("init segment again: X-Cache-Status %q, want HIT", again.cache)
	}

	// A media segment the edge has never seen: it prefetches what the
	// media playlists it serves list, so take one from a rendition only
	// the origin has been asked for.
	audioURL := pk.URL + "/hls/" + audio
	waitPlaylist(t, audioURL, "#EXTINF", 30*time.Second)
	apl := c.get(t, audioURL)
	segs := uriRe.FindAllString(string(apl.body), -1)
	if len(segs) == 0 {
		t.Fatalf("no segment in %s:\n%s", audioURL, apl.body)
	}
	segURL := base + "/hls/" + dirOf(audio) + segs[len(segs)-1]
	seg := c.get(t, segURL)
	if typ := boxType(seg.body); typ != "styp" && typ != "moof" {
		t.Errorf("media segment %s starts with box %q, want styp or moof (fMP4)", segURL, typ)
	}
	if seg.cache != "MISS" {
		t.Errorf("media segment first time: X-Cache-Status %q, want MISS", seg.cache)
	}
	again := c.get(t, segURL)
	if again.cache != "HIT" {
		t.Errorf("media segment again: X-Cache-Status %q, want HIT", again.cache)
	}
	if !bytes.Equal(again.body, seg.body) {
		t.Errorf("media segment: the HIT (%d bytes) differs from the MISS (%d bytes)", len(again.body), len(seg.body))
	}
	t.Logf("through the container: %s (%d bytes, %s), %s (%d bytes, %s then %s)",
		initURI, len(init.body), init.cache, segs[len(segs)-1], len(seg.body), seg.cache, again.cache)

	// podman stop sends SIGTERM: the edge drains (1 s grace) and exits 0
	// before podman's SIGKILL (stop checks the exit status: a killed
	// container exits 137), whatever the load on the machine.
	c.stop(t, 30)
	if !strings.Contains(c.logs(t), "drained") {
		t.Errorf("no drain in the log:\n%s", c.logs(t))
	}
}

// testImagePackager runs the image's other binary, the packager, with its
// demo stream, configured by environment variables too.
func testImagePackager(t *testing.T, pm *podman, tag string) {
	httpAddr, rtmpAddr := freeLoopback(t), freeLoopback(t)
	c := pm.run(t, "packager", tag, []string{
		"PACKAGER_DEMO=true",
		"PACKAGER_HTTP_LISTEN=" + httpAddr,
		"PACKAGER_RTMP_LISTEN=" + rtmpAddr,
		"PACKAGER_SHUTDOWN_GRACE=1s",
		"PACKAGER_SHUTDOWN_TIMEOUT=20s", // as the edge's, above
	}, []string{"--entrypoint", "/packager"})
	c.waitOK(t, "http://"+httpAddr+"/healthz", 30*time.Second)
	waitPlaylist(t, "http://"+httpAddr+"/hls/demo.m3u8", "#EXT-X-STREAM-INF", 30*time.Second)
	c.stop(t, 30)
}

// podman runs podman and buildah with the configuration in deploy/image,
// which this kind of host needs (no systemd, a low nofile hard limit).
type podman struct {
	bin  string
	root string   // the repository
	env  []string // os.Environ plus CONTAINERS_CONF
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	bin := needTool(t, "podman")
	needTool(t, "buildah")
	needTool(t, "runc")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	return &podman{
		bin:  bin,
		root: root,
		env:  append(os.Environ(), "CONTAINERS_CONF="+filepath.Join(root, "deploy", "image", "containers.conf")),
	}
}

// cmd runs podman with args, bounded by within, and returns its combined
// output.
func (p *podman) cmd(t *testing.T, within time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c := exec.CommandContext(ctx, p.bin, args...)
	c.Env = p.env
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("podman %s: no answer within %v", strings.Join(args, " "), within)
	} else if err != nil {
		err = fmt.Errorf("podman %s: %w", strings.Join(args, " "), err)
	}
	return string(out), err
}

// must is cmd that fails the test on an error.
func (p *podman) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := p.cmd(t, time.Minute, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// script runs a repository script with extra environment, bounded.
func (p *podman) script(t *testing.T, within time.Duration, script string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c := exec.CommandContext(ctx, filepath.Join(p.root, script))
	c.Dir = p.root
	c.Env = append(append([]string{}, p.env...), env...)
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s: not done within %v", script, within)
	}
	return string(out), err
}

func (p *podman) inspect(t *testing.T, name, format string) string {
	t.Helper()
	return p.must(t, "inspect", "--type", "container", "--format", format, name)
}

// imageInfo is what the test reads of `podman image inspect`.
type imageInfo struct {
	Size   int64
	Config struct {
		User         string
		Entrypoint   []string
		Cmd          []string
		ExposedPorts map[string]struct{}
		Labels       map[string]string
	}
}

func (p *podman) inspectImage(t *testing.T, ref string) imageInfo {
	t.Helper()
	var infos []imageInfo
	out := p.must(t, "image", "inspect", ref)
	if err := json.Unmarshal([]byte(out), &infos); err != nil || len(infos) != 1 {
		t.Fatalf("podman image inspect %s: %v\n%s", ref, err, out)
	}
	return infos[0]
}

// copyOut copies a file out of a container into dir (a container FROM
// scratch has no shell to cat it with).
func (p *podman) copyOut(t *testing.T, name, file, dir string) {
	t.Helper()
	p.must(t, "cp", name+":"+file, dir+"/")
}

// container is a detached container the test started.
type container struct {
	p    *podman
	name string
}

// run starts image detached on the host's network with env and podman
// options opts; args follow the image name, so they are the entrypoint's.
// The container is removed when the test ends, its log shown first if
// the test failed.
func (p *podman) run(t *testing.T, role, image string, env, opts []string, args ...string) *container {
	t.Helper()
	c := &container{p: p, name: "edgecache-e2e-" + role + "-" + randomHex(t, 4)}
	// Not --rm: the exit status must outlive the container's stop.
	runArgs := []string{"run", "--detach", "--name", c.name, "--network=host"}
	for _, e := range env {
		runArgs = append(runArgs, "--env", e)
	}
	runArgs = append(runArgs, opts...)
	runArgs = append(runArgs, image)
	runArgs = append(runArgs, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("podman logs %s:\n%s", c.name, c.logs(t))
		}
		if out, err := p.cmd(t, time.Minute, "rm", "--force", "--time", "0", c.name); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
	p.must(t, runArgs...)
	return c
}

func (c *container) logs(t *testing.T) string {
	t.Helper()
	out, err := c.p.cmd(t, time.Minute, "logs", c.name)
	if err != nil {
		return fmt.Sprintf("(%v) %s", err, out)
	}
	return out
}

// waitOK waits until url answers 200, failing early if the container
// exits.
func (c *container) waitOK(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: 2 * time.Second}
	for i := 0; ; i++ {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if i%5 == 4 {
			if st := c.p.must(t, "inspect", "--type", "container", "--format", "{{.State.Status}} {{.State.ExitCode}}", c.name); !strings.HasPrefix(st, "running") {
				t.Fatalf("container %s is %s, not running; %s: %v", c.name, st, url, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no 200 within %v from container %s: %v", url, within, c.name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop runs podman stop (SIGTERM, SIGKILL after timeout seconds) and
// checks the container exited 0. It returns how long the stop took.
func (c *container) stop(t *testing.T, timeout int) {
	t.Helper()
	start := time.Now()
	if out, err := c.p.cmd(t, time.Duration(timeout+30)*time.Second, "stop", "--time", strconv.Itoa(timeout), c.name); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	took := time.Since(start)
	st := c.p.inspect(t, c.name, "{{.State.Status}} {{.State.ExitCode}}")
	t.Logf("podman stop %s: %s after %v", c.name, st, took.Round(time.Millisecond))
	if st != "exited 0" {
		t.Errorf("after podman stop, container %s is %q, want \"exited 0\": the drain did not finish on its own", c.name, st)
	}
}

// response is a fetched object.
type response struct {
	body  []byte
	cache string // X-Cache-Status
}

// getFailsafe bounds one request to the container: a liveness failsafe
// against a hung answer, not a speed goal.
const getFailsafe = time.Minute

// get fetches url, bounded in time and size, and wants a 200.
func (c *container) get(t *testing.T, url string) response {
	t.Helper()
	client := &http.Client{Timeout: getFailsafe}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return response{body: b, cache: resp.Header.Get("X-Cache-Status")}
}

// freeLoopback returns a loopback address nothing listens on right now.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func hasPort(ports map[string]struct{}, port string) bool {
	for p := range ports {
		if p == port || strings.HasPrefix(p, port+"/") {
			return true
		}
	}
	return false
}

// firstMatch returns re's first submatch (or match) in b.
func firstMatch(t *testing.T, re *regexp.Regexp, b []byte, what string) string {
	t.Helper()
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s:\n%s", what, b)
	}
	return string(m[len(m)-1])
}

// dirOf is url up to and including its last slash.
func dirOf(url string) string { return url[:strings.LastIndex(url, "/")+1] }

// boxType is the type of the first ISO BMFF box in b.
func boxType(b []byte) string {
	if len(b) < 8 {
		return ""
	}
	return string(b[4:8])
}
