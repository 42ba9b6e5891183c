package compare

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/bench/viewer"
)

// countingProxy sits between every edge and the packager and counts what
// reaches the origin: blocking playlist reloads (_HLS_msn), other playlist
// requests, and part requests. Edges take their LL-HLS turn one after
// another, so each one's share is the difference across its turn.
type countingProxy struct {
	srv                       *http.Server
	URL                       string
	blocking, playlists, part atomic.Int64
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &countingProxy{URL: "http://" + ln.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // held parts and playlists pass on as they come
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, ResponseHeaderTimeout: 0}
	c.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, ".m3u8") && r.URL.Query().Has("_HLS_msn"):
			c.blocking.Add(1)
		case strings.HasSuffix(r.URL.Path, ".m3u8"):
			c.playlists.Add(1)
		case isPartPath(r.URL.Path):
			c.part.Add(1)
		}
		rp.ServeHTTP(w, r)
	})}
	go c.srv.Serve(ln)
	return c, nil
}

// isPartPath: the packager names parts N.P.m4s next to segments N.m4s.
func isPartPath(p string) bool {
	i := strings.LastIndexByte(p, '/')
	return strings.HasSuffix(p, ".m4s") && strings.Count(p[i+1:], ".") == 2
}

func (c *countingProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.srv.Shutdown(ctx)
}

// LLResult is one edge's LL-HLS turn.
type LLResult struct {
	Viewers        int     `json:"viewers"`
	Seconds        float64 `json:"seconds"`
	Renditions     int     `json:"renditions"`
	OriginBlocking int64   `json:"origin_blocking_reloads"`
	OriginPlaylist int64   `json:"origin_other_playlist_requests"`
	OriginParts    int64   `json:"origin_part_requests"`
	// PerPart: origin blocking reloads per part per rendition (1 is one
	// upstream request per part, whatever the number of viewers).
	PerPart       float64 `json:"blocking_per_part_per_rendition"`
	HoldP50Ms     float64 `json:"playlist_hold_p50_ms"`
	HoldP99Ms     float64 `json:"playlist_hold_p99_ms"`
	PartHoldP50Ms float64 `json:"part_hold_p50_ms"`
	Errors        int64   `json:"http_errors"`
	LatencyP50Ms  float64 `json:"live_latency_p50_ms"`
	Rebuffers     int64   `json:"rebuffer_events"`
	RebufferRatio float64 `json:"rebuffer_ratio"`
	NeverStarted  int     `json:"never_started"`
	// SimulatorCores is the simulator's own CPU over the turn, in cores.
	SimulatorCores float64 `json:"simulator_cores"`
}

// clean: every viewer started and none rebuffered or saw an error.
func (x LLResult) clean() bool {
	return x.Viewers > 0 && x.Rebuffers == 0 && x.NeverStarted == 0 && x.Errors == 0
}

// runLLHLS runs LL-HLS viewers (blocking reloads, preload hints) against
// one edge and counts what reached the packager.
func runLLHLS(ctx context.Context, s *server, cp *countingProxy, viewers int, d time.Duration, partTarget time.Duration) (LLResult, error) {
	b0, p0, t0 := cp.blocking.Load(), cp.playlists.Load(), cp.part.Load()
	start := time.Now()
	rep, err := viewer.Run(ctx, viewer.Config{
		URL: s.URL + "/hls/demo.m3u8", Viewers: viewers, Duration: d, Ramp: d / 10,
		Rendition: "0", Seed: 1, LLHLS: true,
	}, nil)
	if err != nil {
		return LLResult{}, err
	}
	el := time.Since(start)
	r := LLResult{
		Viewers: viewers, Seconds: el.Seconds(), Renditions: max(1, len(rep.Renditions)),
		OriginBlocking: cp.blocking.Load() - b0, OriginPlaylist: cp.playlists.Load() - p0, OriginParts: cp.part.Load() - t0,
		Errors:       rep.Errors.Status4xx + rep.Errors.Status5xx + rep.Errors.Network,
		LatencyP50Ms: rep.LiveLatencyMs.P50, Rebuffers: rep.Rebuffer.Events, RebufferRatio: rep.Rebuffer.OverallRatio,
		NeverStarted: rep.Viewers.NeverStarted,
	}
	if rep.ElapsedS > 0 {
		r.SimulatorCores = rep.SimulatorCPUS / rep.ElapsedS
	}
	if h, ok := rep.HoldMs["playlist"]; ok {
		r.HoldP50Ms, r.HoldP99Ms = h.P50, h.P99
	}
	if h, ok := rep.HoldMs["part"]; ok {
		r.PartHoldP50Ms = h.P50
	}
	if partTarget > 0 {
		r.PerPart = float64(r.OriginBlocking) / (el.Seconds() / partTarget.Seconds() * float64(r.Renditions))
	}
	return r, nil
}
