// Package origin is edgecache's origin packager: RTMP (and RTMPS) in,
// CMAF fMP4 segments out, served from RAM as HLS and DASH with the URL
// layout of nginx-rtmp (/hls/STREAM.m3u8, /dash/STREAM.mpd).
//
// It wires the layers (see ARCHITECTURE.md): ingest takes publishers in
// and feeds media sessions, which cut CMAF fragments and segments into the
// live streams; this package is the configuration and the HTTP server in
// front of them.
package origin

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	srt "github.com/datarhei/gosrt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/origin/ingest"
	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
)

// Errors of the packager's parts, for errors.Is.
var (
	// ErrServerClosed is returned by ServeRTMP after Close.
	ErrServerClosed = ingest.ErrServerClosed
	// ErrPublishRejected wraps every refused publish; errors.As with
	// *RejectError gives the reason.
	ErrPublishRejected = ingest.ErrPublishRejected
	// ErrDemoRunning is returned when a demo with that name already runs.
	ErrDemoRunning = ingest.ErrDemoRunning
	// ErrStreamBusy: the stream already has a publisher.
	ErrStreamBusy = live.ErrStreamBusy
	// ErrUnsupportedCodec is returned for tracks the packager cannot package.
	ErrUnsupportedCodec = media.ErrUnsupportedCodec
)

// RejectError says why a publish was refused.
type RejectError = ingest.RejectError

// Server is the packager: the live streams, the ingest server in front of
// them and the housekeeping goroutine. Close stops them all.
type Server struct {
	cfg      Config
	log      *slog.Logger
	streams  *live.Registry
	ingest   *ingest.Server
	im       *ingest.Metrics
	gatherer prometheus.Gatherer

	ctx    context.Context // lifecycle: cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the housekeeping goroutine

	mu     sync.RWMutex // guards closed
	closed bool
}

// New builds a packager from cfg (defaults applied, then validated). The
// Server stops when ctx is done or Close is called. Metrics are
// registered on reg; when reg is also a prometheus.Gatherer (a
// *prometheus.Registry is), /metrics serves it. A nil reg gets a private
// registry.
func New(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	lm, err := live.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	im, err := ingest.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	log = log.With("component", "packager")
	s := &Server{cfg: cfg, log: log, im: im}
	s.streams = live.NewRegistry(cfg.liveConfig(), log, lm)
	if g, ok := reg.(prometheus.Gatherer); ok {
		s.gatherer = g
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.ingest = ingest.New(s.ctx, cfg.RTMP, cfg.Auth, claims{s.streams}, log, im)
	if len(cfg.RTSP.Sources) > 0 {
		if err := s.ingest.StartRTSPPull(s.ctx, cfg.RTSP); err != nil {
			s.ingest.Close()
			s.cancel()
			return nil, err
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.housekeep()
	}()
	return s, nil
}

// Config returns the effective configuration (defaults applied).
func (s *Server) Config() Config { return s.cfg }

// Close stops accepting, ends every publisher and the demo, and waits for
// all goroutines. Served content stays readable through Handler.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ingest.Close()
	s.cancel()
	s.wg.Wait()
}

// Stream returns a stream by name, or nil.
func (s *Server) Stream(name string) *live.Stream { return s.streams.Stream(name) }

// ServeRTMP accepts publishers on ln until ctx is done, the listener
// fails, or the Server is closed. It closes ln before returning. For RTMPS
// pass a tls.NewListener. It returns nil on a clean stop.
func (s *Server) ServeRTMP(ctx context.Context, ln net.Listener) error {
	return s.ingest.ServeRTMP(ctx, ln)
}

// ServeRTSP accepts RTSP publishers on ln (rtsp://HOST:PORT/APP/NAME)
// until ctx is done or the Server is closed, with RTP over TCP and, on
// the first pair of rtsp.udp_ports, UDP. It closes ln before returning
// and returns nil on a clean stop.
func (s *Server) ServeRTSP(ctx context.Context, ln net.Listener) error {
	return s.ingest.ServeRTSP(ctx, ln, s.cfg.RTSP)
}

// RTSPSources reports the state of every pulled RTSP source.
func (s *Server) RTSPSources() []ingest.SourceStatus { return s.ingest.RTSPSources() }

// ServeSRT accepts SRT publishers on ln (from ListenSRT) until ctx is
// done, the listener fails, or the Server is closed. It closes ln before
// returning, and returns nil on a clean stop.
func (s *Server) ServeSRT(ctx context.Context, ln SRTListener) error {
	return s.ingest.ServeSRT(ctx, ln, s.cfg.SRT)
}

// SRTListener is an SRT listener (github.com/datarhei/gosrt).
type SRTListener = srt.Listener

// ListenSRT opens the SRT listener on addr (UDP) with the srt section's
// settings.
func ListenSRT(addr string, cfg SRTConfig) (SRTListener, error) {
	return ingest.ListenSRT(addr, cfg)
}

// StartDemo loops the embedded demo clip as the live stream name,
// published over RTMP through a loopback listener; ctx or Close stops it.
func (s *Server) StartDemo(ctx context.Context, name string) error {
	return s.ingest.StartDemo(ctx, name)
}

// housekeep expires retired segments and forgets idle streams.
func (s *Server) housekeep() {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.streams.Expire(now)
			for _, name := range s.streams.RemoveIdle(now) {
				s.im.Forget(name)
			}
		}
	}
}

// claims lets ingest claim live streams: the refusals become the
// publish rejections ingest counts.
type claims struct{ r *live.Registry }

var _ ingest.Streams = claims{}

func (c claims) Claim(name string) (ingest.Stream, error) {
	st, err := c.r.Acquire(name)
	switch {
	case errors.Is(err, live.ErrTooManyStreams):
		return nil, ingest.Reject(ingest.ReasonLimit, err)
	case errors.Is(err, live.ErrStreamBusy):
		return nil, ingest.Reject(ingest.ReasonBusy, err)
	case err != nil:
		return nil, err
	}
	return claimed{c.r, st}, nil
}

// claimed is one claimed stream.
type claimed struct {
	r  *live.Registry
	st *live.Stream
}

func (c claimed) Open(tracks [2]*media.Track, awaitAV1 bool) ingest.Session {
	return c.st.Open(tracks, awaitAV1)
}

func (c claimed) Release() { c.r.Release(c.st) }
