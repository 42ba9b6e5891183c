package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// idleRoundTrip sends a request passed through (another method, a
// response for one viewer alone) with tr and ends it when its origin goes
// quiet for idle (origin.idle_timeout, as nginx's proxy_read_timeout and
// proxy_send_timeout, and as a fill is ended: fetch.go): while the
// request's body is written (the time between two reads of it; a read
// waits on the viewer, which client.body_timeout bounds, and is not
// counted) and during each read of the response's body. The wait for the
// response's head is origin.first_byte_timeout's, the transport's.
// Without it an origin that stopped mid-body held the viewer, a goroutine
// and an origin connection for as long as the viewer waited.
//
// A quiet origin's error wraps errIdleTimeout. onBodyErr, when set, hears
// of a response body that broke off or went quiet while its viewer was
// still there, once.
func idleRoundTrip(tr http.RoundTripper, req *http.Request, idle time.Duration, onBodyErr func(error)) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	quiet := func() { cancel(errIdleTimeout) }
	r := req.WithContext(ctx)
	var sent *idleReqBody
	if r.Body != nil && r.Body != http.NoBody {
		// The clock runs from now: writing the head may wait on the
		// origin too.
		sent = &idleReqBody{rc: r.Body, idle: idle, t: time.AfterFunc(idle, quiet)}
		r.Body = sent
	}
	resp, err := tr.RoundTrip(r)
	if sent != nil {
		// Whatever is left of the body's writing is bounded by the
		// response's (its end cancels the request) or ends with it.
		sent.stop()
	}
	if err != nil {
		err = quietErr(ctx, req.Context(), err)
		cancel(nil)
		return nil, err
	}
	resp.Body = &idleRespBody{rc: resp.Body, idle: idle, quiet: quiet, ctx: ctx, viewer: req.Context(), cancel: cancel, onErr: onBodyErr}
	return resp, nil
}

// quietErr returns err, or errIdleTimeout wrapping it when the origin's
// quiet ended the request and the viewer is still there.
func quietErr(ctx, viewer context.Context, err error) error {
	if viewer.Err() == nil && errors.Is(context.Cause(ctx), errIdleTimeout) && !errors.Is(err, errIdleTimeout) {
		return fmt.Errorf("%w: %w", errIdleTimeout, err)
	}
	return err
}

// idleReqBody is a request body whose writing to the origin is timed: the
// clock runs between two reads (while the transport writes what it read)
// and stops during each read and once the exchange has its response.
type idleReqBody struct {
	rc   io.ReadCloser
	idle time.Duration

	mu   sync.Mutex // Read runs on the transport's goroutine, stop on the handler's
	t    *time.Timer
	done bool
}

func (b *idleReqBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	b.t.Stop()
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	if err == nil {
		b.mu.Lock()
		if !b.done {
			b.t.Reset(b.idle)
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *idleReqBody) Close() error {
	b.stop()
	return b.rc.Close()
}

func (b *idleReqBody) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	b.t.Stop()
}

// idleRespBody is a response body passed through whose every read is
// bounded by the origin's idle timeout; its Close ends the request.
type idleRespBody struct {
	rc     io.ReadCloser
	idle   time.Duration
	quiet  func()
	ctx    context.Context // the request as sent
	viewer context.Context
	cancel context.CancelCauseFunc
	onErr  func(error)

	t      *time.Timer // read and reset on the reading goroutine alone
	failed bool
}

func (b *idleRespBody) Read(p []byte) (int, error) {
	if b.t == nil {
		b.t = time.AfterFunc(b.idle, b.quiet)
	} else {
		b.t.Reset(b.idle)
	}
	n, err := b.rc.Read(p)
	b.t.Stop()
	if err != nil && err != io.EOF {
		err = quietErr(b.ctx, b.viewer, err)
		if !b.failed && b.onErr != nil && b.viewer.Err() == nil {
			b.onErr(err)
		}
		b.failed = true
	}
	return n, err
}

func (b *idleRespBody) Close() error {
	if b.t != nil {
		b.t.Stop()
	}
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
