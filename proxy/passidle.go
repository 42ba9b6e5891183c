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
		// The clock starts once the transport has the body's first
		// bytes: the dial is origin.connect_timeout's, and a head fits
		// in the socket's buffer.
		sent = &idleReqBody{rc: r.Body, idle: idle, quiet: quiet}
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
	resp.Body = &idleRespBody{rc: resp.Body, reads: idleReads{idle: idle, quiet: quiet}, ctx: ctx, viewer: req.Context(), cancel: cancel, onErr: onBodyErr}
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
	rc    io.ReadCloser
	idle  time.Duration
	quiet func()

	mu   sync.Mutex  // Read runs on the transport's goroutine, stop on the handler's
	t    *time.Timer // nil until the first read returns
	done bool
}

func (b *idleReqBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.t != nil {
		b.t.Stop()
	}
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	if err == nil {
		b.mu.Lock()
		switch {
		case b.done:
		case b.t == nil:
			b.t = time.AfterFunc(b.idle, b.quiet)
		default:
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
	if b.t != nil {
		b.t.Stop()
	}
}

// idleReads bounds each read of an origin's body by idle: the clock runs
// only inside a read, so it stands still while whoever reads sends on
// what it got (to a fill's slowest reader, to a viewer). quiet runs when
// a read waits longer. Fills (readBody) and requests passed through
// (idleRespBody) read origin bodies through it. One goroutine reads.
type idleReads struct {
	idle  time.Duration
	quiet func()
	t     *time.Timer
}

func (q *idleReads) read(r io.Reader, p []byte) (int, error) {
	if q.t == nil {
		q.t = time.AfterFunc(q.idle, q.quiet)
	} else {
		q.t.Reset(q.idle)
	}
	n, err := r.Read(p)
	q.t.Stop()
	return n, err
}

func (q *idleReads) stop() {
	if q.t != nil {
		q.t.Stop()
	}
}

// idleRespBody is a response body passed through whose every read is
// bounded by the origin's idle timeout; its Close ends the request.
type idleRespBody struct {
	rc     io.ReadCloser
	reads  idleReads
	ctx    context.Context // the request as sent
	viewer context.Context
	cancel context.CancelCauseFunc
	onErr  func(error)
	failed bool
}

func (b *idleRespBody) Read(p []byte) (int, error) {
	n, err := b.reads.read(b.rc, p)
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
	b.reads.stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
