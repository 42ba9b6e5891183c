package live

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Errors of Registry.Acquire.
var (
	// ErrStreamBusy: the stream already has a publisher.
	ErrStreamBusy = errors.New("stream already has a publisher")
	// ErrTooManyStreams: Config.MaxStreams streams are publishing.
	ErrTooManyStreams = errors.New("too many streams publishing")
)

// Registry holds the packager's streams by name. Housekeeping (Expire,
// RemoveIdle) is driven by its owner.
type Registry struct {
	cfg Config
	log *slog.Logger
	m   *Metrics

	mu      sync.RWMutex // guards streams
	streams map[string]*Stream
}

// NewRegistry returns an empty registry; cfg's defaults are applied.
func NewRegistry(cfg Config, log *slog.Logger, m *Metrics) *Registry {
	cfg.ApplyDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{cfg: cfg, log: log, m: m, streams: make(map[string]*Stream)}
}

// Stream returns a stream by name, or nil.
func (g *Registry) Stream(name string) *Stream {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.streams[name]
}

// Acquire returns name's stream marked as published, creating it if
// needed; Release gives it back. Holding the lock across the lookup and
// the mark keeps RemoveIdle from removing a stream a publisher is about
// to use.
func (g *Registry) Acquire(name string) (*Stream, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.streams[name]
	if st == nil {
		publishing := 0
		for _, o := range g.streams {
			if o.IsPublishing() {
				publishing++
			}
		}
		if g.cfg.MaxStreams > 0 && publishing >= g.cfg.MaxStreams {
			return nil, fmt.Errorf("%d streams already publishing: %w", publishing, ErrTooManyStreams)
		}
		st = newStream(name, &g.cfg, g.log, g.m, time.Now())
		g.streams[name] = st
	}
	if err := st.acquire(); err != nil {
		return nil, err
	}
	g.m.streams.Inc()
	return st, nil
}

// Release marks st as without publisher.
func (g *Registry) Release(st *Stream) {
	st.release(time.Now())
	g.m.streams.Dec()
}

// Expire drops every stream's segments whose retention passed.
func (g *Registry) Expire(now time.Time) {
	g.mu.RLock()
	streams := make([]*Stream, 0, len(g.streams))
	for _, st := range g.streams {
		streams = append(streams, st)
	}
	g.mu.RUnlock()
	for _, st := range streams {
		st.expire(now)
	}
}

// RemoveIdle forgets the streams that have had no publisher for
// Config.IdleTimeout before now, and returns their names.
func (g *Registry) RemoveIdle(now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var gone []string
	for name, st := range g.streams {
		if st.idle(now.Add(-g.cfg.IdleTimeout)) {
			delete(g.streams, name)
			g.m.forget(name)
			g.log.Info("stream removed after idle timeout", "stream", name)
			gone = append(gone, name)
		}
	}
	return gone
}
