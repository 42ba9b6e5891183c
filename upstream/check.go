package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Start runs the active check, if Health.CheckPath is set, in one
// goroutine that Close (or ctx) stops. Without a check path it does
// nothing. Start at most once.
func (s *Set) Start(ctx context.Context) {
	if s.cfg.Health.CheckPath == "" {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.Health.CheckInterval)
		defer t.Stop()
		for {
			s.CheckNow(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the active check and waits for it. Safe to call more than
// once, and on a set never started.
func (s *Set) Close() {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
	})
}

// CheckNow runs one round of the active check against every member at
// once and waits for it: a 2xx or 3xx marks the member up, anything else
// counts as a failure (a refused connection marks it down). Without a
// check path it does nothing. Exported so tests drive rounds themselves.
func (s *Set) CheckNow(ctx context.Context) {
	if s.cfg.Health.CheckPath == "" {
		return
	}
	var wg sync.WaitGroup
	for _, o := range s.origins {
		wg.Go(func() { s.check(ctx, o) })
	}
	wg.Wait()
}

func (s *Set) check(ctx context.Context, o *Origin) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Health.CheckTimeout)
	defer cancel()
	// The path is from the host's root, not under the origin's path: a
	// packager's /readyz, say, for an origin URL http://packager/hls/.
	u := url.URL{Scheme: o.URL.Scheme, Host: o.URL.Host, Path: s.cfg.Health.CheckPath}
	if p := s.cfg.Health.CheckPort; p != 0 {
		u.Host = net.JoinHostPort(o.URL.Hostname(), strconv.Itoa(p))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", "edgecache-health")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil && context.Cause(ctx) != context.DeadlineExceeded {
			return // shutting down: no verdict
		}
		s.checkResult(o, Classify(err, 0))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		s.checkResult(o, Success)
		return
	}
	s.checkResult(o, ServerError)
}

// checkResult applies a check's verdict like Report, without counting it
// as a request outcome.
func (s *Set) checkResult(o *Origin, out Outcome) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if out == Success {
		s.markUpLocked(o, "check")
		return
	}
	o.fails++
	if out == ConnectError || !o.downUntil.IsZero() || o.fails >= s.cfg.Health.Failures {
		s.markDownLocked(o, now, "check "+out.String())
	}
}
