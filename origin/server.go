// Package origin is edgecache's origin packager: RTMP (and RTMPS) in,
// CMAF fMP4 segments out, served from RAM as HLS and DASH with the URL
// layout of nginx-rtmp (/hls/STREAM.m3u8, /dash/STREAM.mpd).
//
// Ingest feeds a per-stream session that cuts one CMAF segment series per
// track on keyframes. A segment is built from fragments (moof+mdat) and
// becomes visible, at its URL and in every playlist, only when complete.
package origin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is the packager: it owns the streams, the RTMP connection
// goroutines and the housekeeping goroutine. Close stops them all.
type Server struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	gatherer prometheus.Gatherer
	auth     atomic.Pointer[authorizer] // swapped by Reload

	ctx    context.Context // lifecycle: cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Server starts

	mu      sync.RWMutex // guards streams, closed, and wg.Add after Close
	streams map[string]*Stream
	closed  bool

	rtmpServing atomic.Int32
	demo        demoState
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
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     log.With("component", "packager"),
		m:       m,
		streams: make(map[string]*Stream),
	}
	s.auth.Store(newAuthorizer(cfg.Auth))
	if g, ok := reg.(prometheus.Gatherer); ok {
		s.gatherer = g
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
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
	s.cancel()
	s.wg.Wait()
}

// Stream returns a stream by name, or nil.
func (s *Server) Stream(name string) *Stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[name]
}

// acquireStream returns name's stream marked as published, creating it if
// needed. Holding s.mu across the lookup and the mark keeps housekeeping
// from removing a stream a publisher is about to use.
func (s *Server) acquireStream(name string) (*Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	st := s.streams[name]
	if st == nil {
		publishing := 0
		for _, o := range s.streams {
			if o.isPublishing() {
				publishing++
			}
		}
		if publishing >= s.cfg.RTMP.MaxStreams {
			return nil, reject(reasonLimit, fmt.Errorf("%d streams already publishing", publishing))
		}
		st = newStream(name, &s.cfg, s.log, s.m, time.Now())
		s.streams[name] = st
	}
	if err := st.acquire(); err != nil {
		return nil, reject(reasonBusy, err)
	}
	s.m.streams.Inc()
	return st, nil
}

func (s *Server) releaseStream(st *Stream) {
	st.release(time.Now())
	s.m.streams.Dec()
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
			s.mu.RLock()
			streams := make([]*Stream, 0, len(s.streams))
			for _, st := range s.streams {
				streams = append(streams, st)
			}
			s.mu.RUnlock()
			for _, st := range streams {
				st.expire(now)
			}
			s.mu.Lock()
			for name, st := range s.streams {
				if st.idle(now.Add(-s.cfg.StreamIdleTimeout)) {
					delete(s.streams, name)
					s.m.forget(name)
					s.log.Info("stream removed after idle timeout", "stream", name)
				}
			}
			s.mu.Unlock()
		}
	}
}
