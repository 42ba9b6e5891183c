package origin

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/origin/live"
	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// liveness bounds how long a test waits for something that must happen
// (a listener ready, a segment listed, a publisher released, a goroutine
// gone) before it gives up and names what never happened. It is a
// failsafe against a hang, not a speed goal: a busy machine only makes
// the wait longer, so it is far beyond any time the wait should take.
const liveness = 30 * time.Second

// newTestServer builds a Server with a fresh registry and no listeners.
func newTestServer(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(context.Background(), cfg, mediatest.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// startSession acquires stream name on s and opens a session on it, as
// ingest does for a publisher.
func startSession(t testing.TB, s *Server, name string, tracks [2]*media.Track) (*live.Stream, *media.Session) {
	t.Helper()
	st, err := s.streams.Acquire(name)
	if err != nil {
		t.Fatal(err)
	}
	return st, st.Open(tracks, false)
}

func endSession(t testing.TB, s *Server, st *live.Stream, sess *media.Session) {
	t.Helper()
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	s.streams.Release(st)
}

// body is a served object's bytes.
func body(t testing.TB, e *live.Entry) []byte {
	t.Helper()
	b, err := io.ReadAll(e.NewReader())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
