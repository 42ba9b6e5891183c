package live

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// newTestRegistry builds a Registry with fresh metrics from the default
// config changed by mutate, as the packager's own tests build a Server.
func newTestRegistry(t testing.TB, mutate func(*Config)) *Registry {
	t.Helper()
	var cfg Config
	cfg.ApplyDefaults()
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return NewRegistry(cfg, mediatest.Logger(t), m)
}

// startSession acquires stream name on s and opens a session on it.
func startSession(t testing.TB, s *Registry, name string, tracks [2]*media.Track) (*Stream, *media.Session) {
	t.Helper()
	st, err := s.Acquire(name)
	if err != nil {
		t.Fatal(err)
	}
	return st, st.Open(tracks, false)
}

func endSession(t testing.TB, s *Registry, st *Stream, sess *media.Session) {
	t.Helper()
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	s.Release(st)
}
