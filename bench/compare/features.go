package compare

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/cat"
	"github.com/edgecache/edgecache/auth/securelink"
)

// FeatureReport is what the operator features cost on the hot loads:
// the same edgecache build, configured with and without each feature,
// measured in the same run against the same origin, rounds interleaved.
type FeatureReport struct {
	Started  time.Time              `json:"started"`
	Machine  string                 `json:"machine"`
	Rounds   int                    `json:"rounds"`
	Duration time.Duration          `json:"duration_per_load"`
	Playlist map[string][]WrkResult `json:"hot_playlist"`
	Segment  map[string][]WrkResult `json:"hot_segment"`
	Variants []string               `json:"variants"`
	Notes    map[string]string      `json:"notes"`
}

// featureVariant is one configuration of the edge under test.
type featureVariant struct {
	name, note string
	yaml       string   // appended to the base config
	route      string   // appended to the hot route
	headers    []string // sent by wrk
	query      func(path string) string
}

const featureKey = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388"

const featureConf = `listen: 127.0.0.1:{{PORT}}
admin_listen: 127.0.0.1:{{ADMIN}}
log_level: warn
{{YAML}}
routes:
  - prefix: /
    origin: "http://{{ORIGIN}}/"
{{ROUTE}}
cache:
  max_bytes: 1GiB
  max_object_bytes: 64MiB
`

// RunFeatures measures the hot playlist and hot segment through edgecache
// with the access log off, to a file and to stdout, and with a CAT or a
// secure_link check on every request.
func RunFeatures(ctx context.Context, opt Options, rounds int, d time.Duration) (*FeatureReport, error) {
	o, err := startOrigin()
	if err != nil {
		return nil, err
	}
	defer o.close()
	dir, err := os.MkdirTemp("", "edgecache-features-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	k, err := auth.ParseKey("k1", "HS256", featureKey)
	if err != nil {
		return nil, err
	}
	tok, err := cat.Sign(&cat.Claims{Issuer: "bench", Expires: time.Now().Add(24 * time.Hour).Unix()}, k)
	if err != nil {
		return nil, err
	}
	const md5 = "$secure_link_expires$uri$remote_addr secret"
	link, err := securelink.Compile(securelink.Config{MD5: md5})
	if err != nil {
		return nil, err
	}
	signed := func(path string) string {
		q, _ := link.Sign(securelink.SignRequest{Path: path, Expires: time.Now().Add(24 * time.Hour).Unix(), ClientIP: netip.MustParseAddr("127.0.0.1")})
		return "?" + q
	}
	variants := []featureVariant{
		{name: "off", note: "access_log off, no auth: the baseline", yaml: `access_log: {path: "off"}`},
		{name: "log-file", note: "access log, default format, to a file", yaml: fmt.Sprintf("access_log: {path: %q}", filepath.Join(dir, "access.log"))},
		{name: "log-stdout", note: "access log, default format, to stdout (a file here, as a container runtime's pipe would be drained)", yaml: `access_log: {path: stdout}`},
		{name: "cat", note: "access_log off; a CAT (HS256) in the CTA-Common-Access-Token header checked on every request", yaml: `access_log: {path: "off"}`,
			route:   "    auth: {scheme: cat, cat: {issuer: bench, keys: [{kid: k1, alg: HS256, key: " + featureKey + "}]}}",
			headers: []string{"CTA-Common-Access-Token: " + tok}},
		{name: "secure_link", note: "access_log off; an nginx secure_link (MD5) in the query checked on every request", yaml: `access_log: {path: "off"}`,
			route: "    auth: {scheme: secure_link, secure_link: {md5: '" + md5 + "'}}",
			query: signed},
	}
	rep := &FeatureReport{Started: time.Now(), Machine: machine(), Rounds: rounds, Duration: d,
		Playlist: map[string][]WrkResult{}, Segment: map[string][]WrkResult{}, Notes: map[string]string{}}
	servers := map[string]*server{}
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, v := range variants {
		s, err := startFeatureEdge(ctx, opt.Bin, dir, o.ln.Addr().String(), v)
		if err != nil {
			return nil, err
		}
		servers[v.name] = s
		rep.Variants = append(rep.Variants, v.name)
		rep.Notes[v.name] = v.note
	}
	q := func(v featureVariant, path string) string {
		if v.query == nil {
			return path
		}
		return path + v.query(path)
	}
	for round := range rounds {
		for i := range variants {
			v := variants[(i+round)%len(variants)]
			s := servers[v.name]
			for _, load := range []struct {
				path string
				into map[string][]WrkResult
			}{{"/hot/index.m3u8", rep.Playlist}, {"/hot/seg.m4s", rep.Segment}} {
				url := s.URL + q(v, load.path)
				if err := warmHeaders(url, v.headers); err != nil {
					return nil, fmt.Errorf("%s: %w", v.name, err)
				}
				r, err := runWrkHeaders(ctx, s, url, d, v.headers...)
				if err != nil {
					return nil, err
				}
				if r.NonSuccessful > 0 {
					return nil, fmt.Errorf("%s %s: %d non-2xx answers", v.name, load.path, r.NonSuccessful)
				}
				load.into[v.name] = append(load.into[v.name], r)
				opt.Log.Info("features", "round", round, "variant", v.name, "path", load.path, "req/s", int(r.ReqPerSec), "req/cpu-s", int(r.ReqPerCPUSec))
			}
		}
	}
	return rep, nil
}

func startFeatureEdge(ctx context.Context, bin, dir, origin string, v featureVariant) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cf := filepath.Join(dir, v.name+".yaml")
	conf := fill(featureConf, "PORT", strconv.Itoa(port), "ADMIN", strconv.Itoa(admin), "ORIGIN", origin, "YAML", v.yaml, "ROUTE", v.route)
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "edgecache"), "-config", cf)
	cmd.Stdout = logFile(dir, v.name)
	cmd.Stderr = cmd.Stdout
	s := &server{Name: v.name, URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// A protected route refuses an unsigned probe: any answer means the
	// edge is up.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/hot/index.m3u8")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer on %s", v.name, s.URL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// warmHeaders fetches url once with headers ("Name: value") and wants 200.
func warmHeaders(url string, headers []string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

// Markdown renders the report.
func (r *FeatureReport) Markdown(command string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Operator features on the hot loads, %s\n\n", r.Started.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Command: `%s`. Machine: %s. One edgecache build, five configurations, each with its own process, against one origin; %d rounds of `wrk -t2 -c64` for %v per load, the configurations interleaved; medians.\n\n", command, r.Machine, r.Rounds, r.Duration)
	b.WriteString("| configuration | playlist req/s | playlist req per server CPU-s | segment req/s | segment req per server CPU-s | playlist p99 ms | segment p99 ms |\n|---|---|---|---|---|---|---|\n")
	base := r.Variants[0]
	for _, v := range r.Variants {
		pl, sg := r.Playlist[v], r.Segment[v]
		rps := func(rs []WrkResult) float64 { return wrkMed(rs, func(w WrkResult) float64 { return w.ReqPerSec }) }
		cpu := func(rs []WrkResult) float64 { return wrkMed(rs, func(w WrkResult) float64 { return w.ReqPerCPUSec }) }
		p99 := func(rs []WrkResult) float64 {
			return wrkMed(rs, func(w WrkResult) float64 { return w.LatencyMs["99%"] })
		}
		cell := func(x, y float64) string {
			if v == base {
				return fmt.Sprintf("%.0f", x)
			}
			return fmt.Sprintf("%.0f (%s)", x, ratio(x, y))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f | %.2f |\n", v,
			cell(rps(pl), rps(r.Playlist[base])), cell(cpu(pl), cpu(r.Playlist[base])),
			cell(rps(sg), rps(r.Segment[base])), cell(cpu(sg), cpu(r.Segment[base])), p99(pl), p99(sg))
	}
	b.WriteString("\nRatios are against `" + base + "`.\n\n")
	for _, v := range r.Variants {
		fmt.Fprintf(&b, "- `%s`: %s\n", v, r.Notes[v])
	}
	return b.String()
}
