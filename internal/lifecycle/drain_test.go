package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDrain: readiness fails before anything else; the server keeps
// serving through the grace (Shutdown is not called before it ends); a
// server failing during the grace ends the drain with its error and no
// Shutdown; in-flight work that outlasts the timeout is reported, with
// the timeout, as an error wrapping the context's.
func TestDrain(t *testing.T) {
	errBoom := errors.New("listener failed")
	tests := []struct {
		name           string
		grace, timeout time.Duration
		// during runs while the grace is under way; a value sent on errc
		// is a server ending then.
		during       func(errc chan<- error)
		shutdown     func(ctx context.Context) error
		wantShutdown bool
		wantErr      error  // errors.Is
		wantMsg      string // in the error
	}{
		{
			name: "shutdown after the grace", grace: 200 * time.Millisecond, timeout: time.Minute,
			shutdown:     func(ctx context.Context) error { return nil },
			wantShutdown: true,
		},
		{
			name: "a server fails during the grace", grace: time.Hour, timeout: time.Minute,
			during:   func(errc chan<- error) { errc <- errBoom },
			shutdown: func(ctx context.Context) error { return nil },
			wantErr:  errBoom,
		},
		{
			name: "a server ends cleanly during the grace", grace: time.Hour, timeout: time.Minute,
			during:       func(errc chan<- error) { errc <- nil },
			shutdown:     func(ctx context.Context) error { return nil },
			wantShutdown: true,
		},
		{
			name: "in-flight work outlasts the timeout", grace: 0, timeout: 50 * time.Millisecond,
			shutdown: func(ctx context.Context) error {
				<-ctx.Done() // a response that never finishes
				return ctx.Err()
			},
			wantShutdown: true, wantErr: context.DeadlineExceeded, wantMsg: "after 50ms",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ready atomic.Bool
			ready.Store(true)
			var shutdownAt atomic.Pointer[time.Time]
			var readyAtShutdown atomic.Bool
			d := Drain{
				Log:     slog.New(slog.DiscardHandler),
				Ready:   &ready,
				Grace:   tc.grace,
				Timeout: tc.timeout,
				Shutdown: func(ctx context.Context) error {
					now := time.Now()
					shutdownAt.Store(&now)
					readyAtShutdown.Store(ready.Load())
					return tc.shutdown(ctx)
				},
			}
			errc := make(chan error, 1)
			done := make(chan error, 1)
			began := time.Now()
			go func() { done <- d.Run(errc) }()
			if tc.during != nil {
				// The grace is an hour here: readiness must fail at its
				// start, while nothing has been shut down.
				waitUntil(t, "readiness failing in the grace", func() bool { return !ready.Load() },
					func() string { return "still ready" })
				if shutdownAt.Load() != nil {
					t.Fatal("Shutdown came during the grace")
				}
				tc.during(errc)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(liveness):
				t.Fatalf("the drain had not ended %v after it began", liveness)
			}
			if ready.Load() {
				t.Error("still ready after the drain")
			}
			at := shutdownAt.Load()
			switch {
			case tc.wantShutdown && at == nil:
				t.Fatal("Shutdown was not called")
			case !tc.wantShutdown && at != nil:
				t.Fatal("Shutdown was called")
			}
			if at != nil {
				if readyAtShutdown.Load() {
					t.Error("Shutdown came while readiness still passed")
				}
				// Load only delays Shutdown: one before the grace is a bug.
				if tc.during == nil && at.Sub(began) < tc.grace {
					t.Errorf("Shutdown %v after the drain began, within the %v grace", at.Sub(began), tc.grace)
				}
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("drain: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("drain: %v, want %v with %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}
}
