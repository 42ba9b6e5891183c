package compare

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one edge under test, started by the harness and stopped by
// PID.
type server struct {
	Name string // nginx, nginx-lock, varnish, edgecache
	URL  string
	cmd  *exec.Cmd
	// cacheDir is where nginx keeps its cache, on tmpfs: its bytes are RAM
	// the process RSS does not show.
	cacheDir string
	// metricsURL is edgecache's admin /metrics, "" for others.
	metricsURL string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// env is what the servers are started from.
type env struct {
	dir         string // scratch, removed at the end
	originAddr  string // host:port of the static test origin
	packagerURL string // http://host:port of the packager
	bin         string // directory with edgecache and packager binaries
}

const nginxConf = `daemon off;
master_process on;
worker_processes auto;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path {{DIR}}/body;
  proxy_temp_path {{DIR}}/proxy_temp;
  # The seed edge: a RAM-backed cache dir, 10 s for 200s, 1 min for 404s.
  proxy_cache_path {{CACHE}} levels=1:2 keys_zone=HLS:10m max_size=1g inactive=10s use_temp_path=off;
  proxy_cache_key "$scheme$request_method$host$request_uri";
  upstream origin   { server {{ORIGIN}}; keepalive 64; }
  upstream packager { server {{PACKAGER}}; keepalive 64; }
  server {
    listen 127.0.0.1:{{PORT}} reuseport backlog=4096;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering on;
    proxy_cache HLS;
    proxy_cache_valid 200 10s;
    proxy_cache_valid 404 1m;
    {{LOCK}}
    add_header X-Cache-Status $upstream_cache_status;
    location /hls/  { proxy_pass http://packager/hls/; }
    location /dash/ { proxy_pass http://packager/dash/; }
    location /      { proxy_pass http://origin; }
  }
}
`

const varnishVCL = `vcl 4.1;
backend origin   { .host = "127.0.0.1"; .port = "{{OPORT}}"; }
backend packager { .host = "127.0.0.1"; .port = "{{PPORT}}"; }
sub vcl_recv {
  if (req.url ~ "^/(hls|dash)/") { set req.backend_hint = packager; } else { set req.backend_hint = origin; }
}
sub vcl_backend_response {
  # The seed's TTLs: 200s the origin says nothing about live 10 s, 404s 1 min.
  if (beresp.status == 404) { set beresp.ttl = 60s; }
  elsif (beresp.status == 200 && !beresp.http.Cache-Control && !beresp.http.Expires) { set beresp.ttl = 10s; }
}
sub vcl_deliver {
  if (obj.hits > 0) { set resp.http.X-Cache-Status = "HIT"; } else { set resp.http.X-Cache-Status = "MISS"; }
}
`

const edgeConf = `listen: 127.0.0.1:{{PORT}}
admin_listen: 127.0.0.1:{{ADMIN}}
log_level: warn
access_log: {path: "off"} # as nginx's access_log off above
routes:
  - {prefix: /hls/, origin: "http://{{PACKAGER}}/hls/"}
  - {prefix: /dash/, origin: "http://{{PACKAGER}}/dash/"}
  - {prefix: /, origin: "http://{{ORIGIN}}/"}
cache:
  max_bytes: 1GiB
  max_object_bytes: 64MiB
classes:
  manifest: {ttl: 10s}
  segment: {ttl: 10s}
  init: {ttl: 10s}
  other: {ttl: 10s}
status_ttl:
  404: 1m
`

func fill(tmpl string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		tmpl = strings.ReplaceAll(tmpl, "{{"+kv[i]+"}}", kv[i+1])
	}
	return tmpl
}

func (e *env) startNginx(ctx context.Context, name string, lock bool) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, name)
	cache := filepath.Join("/dev/shm", "edgecache-bench-"+name+"-"+strconv.Itoa(os.Getpid()))
	for _, d := range []string{dir, cache, filepath.Join(dir, "body"), filepath.Join(dir, "proxy_temp")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return nil, err
		}
		os.Chmod(d, 0o777)
	}
	l := ""
	if lock {
		l = "proxy_cache_lock on;"
	}
	conf := fill(nginxConf, "DIR", dir, "CACHE", cache, "ORIGIN", e.originAddr,
		"PACKAGER", strings.TrimPrefix(e.packagerURL, "http://"), "PORT", strconv.Itoa(port), "LOCK", l)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", dir, "-c", cf)
	cmd.Stderr = logFile(dir, "stderr")
	s := &server{Name: name, URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, cacheDir: cache}
	return s, s.start()
}

func (e *env) startVarnish(ctx context.Context) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, "varnish")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	_, oport, _ := net.SplitHostPort(e.originAddr)
	_, pport, _ := net.SplitHostPort(strings.TrimPrefix(e.packagerURL, "http://"))
	vcl := filepath.Join(dir, "default.vcl")
	if err := os.WriteFile(vcl, []byte(fill(varnishVCL, "OPORT", oport, "PPORT", pport)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "varnishd", "-F", "-a", fmt.Sprintf("127.0.0.1:%d", port),
		"-f", vcl, "-s", "malloc,1G", "-n", filepath.Join(dir, "work"), "-T", "none")
	cmd.Stdout = logFile(dir, "stdout")
	cmd.Stderr = logFile(dir, "stderr")
	s := &server{Name: "varnish", URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	return s, s.start()
}

func (e *env) startEdgecache(ctx context.Context) (*server, error) {
	return e.startEdgecacheConf(ctx, edgeConf)
}

// startEdgecacheConf runs edgecache with the config template tmpl.
func (e *env) startEdgecacheConf(ctx context.Context, tmpl string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, "edgecache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cf := filepath.Join(dir, "edgecache.yaml")
	conf := fill(tmpl, "PORT", strconv.Itoa(port), "ADMIN", strconv.Itoa(admin),
		"ORIGIN", e.originAddr, "PACKAGER", strings.TrimPrefix(e.packagerURL, "http://"))
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "edgecache"), "-config", cf)
	cmd.Stdout = logFile(dir, "stdout")
	cmd.Stderr = cmd.Stdout
	s := &server{Name: "edgecache", URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd,
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", admin)}
	return s, s.start()
}

// startFloor runs FloorHandler in a process of its own (self
// -serve-floor ADDR), so it is measured like the edges: its own CPU, its
// own GC.
func (e *env) startFloor(ctx context.Context, self string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.CommandContext(ctx, self, "-serve-floor", addr)
	cmd.Stderr = logFile(e.dir, "floor")
	s := &server{Name: "go-floor", URL: "http://" + addr, cmd: cmd}
	return s, s.start()
}

func logFile(dir, name string) *os.File {
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil
	}
	return f
}

func (s *server) start() error {
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.Name, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/hot/index.m3u8")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("%s did not answer on %s", s.Name, s.URL)
}

// stop ends the server by its PID (and its process group's children:
// nginx workers, the Varnish child), then removes a tmpfs cache.
func (s *server) stop() {
	if s.cmd.Process != nil {
		pids := processTree(s.cmd.Process.Pid)
		s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
			<-done
		}
	}
	if s.cacheDir != "" {
		os.RemoveAll(s.cacheDir)
	}
}
