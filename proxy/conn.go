package proxy

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server returns the http.Server viewers connect to: the proxy as its
// handler, the client limits of its config (restart-only settings, so
// fixed here), connContext, which writeBody needs to merge a large body's
// first write with its head, and handedState, which gives a connection
// the front handed a request of back to the front (front.go). Serve it on
// p.Listener: the front runs once Server has been called. errLog may be
// nil.
func (p *Proxy) Server(errLog *log.Logger) *http.Server {
	c := p.view().cfg.Client
	p.frontHooked.Store(true) // Listener's front may hand requests to it
	return &http.Server{
		Handler:           p,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes(c.MaxHeaderBytes),
		ErrorLog:          errLog,
		ConnContext:       connContext,
		ConnState:         handedState,
	}
}

// headerSlack is what net/http adds to Server.MaxHeaderBytes before it
// refuses a request head (its initialReadLimitSize: "bufio slop").
const headerSlack = 4096

// serverMaxHeaderBytes turns the configured bound on a request head into
// net/http's setting, so that a head of exactly the configured size is
// read and one byte more gets 431. Validate keeps the bound above the
// slack.
func serverMaxHeaderBytes(limit ByteSize) int {
	return int(limit) - headerSlack
}

// heldMax bounds what a viewerConn holds back: net/http's connection
// buffer is 4 KiB, so its flush of a response head and the body's first
// bytes fits.
const heldMax = 8 << 10

var heldPool = sync.Pool{New: func() any { b := make([]byte, 0, heldMax); return &b }}

// viewerConn is a viewer's connection. Outside merge it is the TCP
// connection itself. Inside merge, a first small write (net/http flushing
// the response head with the body's first few KiB) is held back and goes
// out with the next write in one writev, so the head never leaves as a
// short segment of its own: on loopback that pattern kept the client's
// receive window small, and a 1.2 MB hit cost the client about a quarter
// more CPU. This replaces TCP_CORK, which cost two setsockopt calls and a
// third write per hit.
type viewerConn struct {
	net.Conn // *net.TCPConn from the listener
	// raw makes every write (the front's, net/http's) and the front's
	// reads: raw system calls, each wait for room bounded by
	// client.write_idle_timeout. newViewerConn makes the only viewerConns.
	raw *rawConn

	// mu orders Write against merge's end: net/http may write an
	// interim "100 Continue" from the goroutine reading a request body.
	mu      sync.Mutex
	merging bool
	held    *[]byte
	merged  int // responses whose head went out with their body

	// count, when set, is the client.max_conns count the connection
	// leaves at its first Close.
	count  *connCount
	closed atomic.Bool
}

// Close closes the connection; every path that ends a viewer connection
// (net/http's, the front's) closes it here.
func (c *viewerConn) Close() error {
	if c.count != nil && c.closed.CompareAndSwap(false, true) {
		c.count.closed()
	}
	return c.Conn.Close()
}

// merge runs write with the first small write held back for the next
// (see viewerConn), and sends whatever is still held when write returns.
// On a nil viewerConn (a connection Listener did not accept) it just runs
// write.
func (c *viewerConn) merge(write func()) {
	if c == nil {
		write()
		return
	}
	c.mu.Lock()
	c.merging = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.endMergeLocked() // an error shows on the connection's next use
	}()
	write()
}

// endMergeLocked stops merging and sends anything held. c.mu is held.
func (c *viewerConn) endMergeLocked() error {
	c.merging = false
	if c.held == nil {
		return nil
	}
	_, err := c.write2(*c.held, nil)
	c.release()
	return err
}

// newViewerConn wraps tc, whose waits for room are bounded by idle each.
func newViewerConn(tc *net.TCPConn, idle time.Duration) (*viewerConn, error) {
	vc := &viewerConn{Conn: tc, raw: new(rawConn)}
	if err := vc.raw.init(tc, idle); err != nil {
		return nil, fmt.Errorf("viewer connection: %w", err)
	}
	return vc, nil
}

// write2 writes a then b in one call.
func (c *viewerConn) write2(a, b []byte) (int64, error) {
	return c.raw.write(a, b)
}

func (c *viewerConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.merging {
		n, err := c.write2(p, nil)
		return int(n), err
	}
	if c.held == nil && len(p) <= heldMax {
		c.held = heldPool.Get().(*[]byte)
		*c.held = append((*c.held)[:0], p...)
		return len(p), nil
	}
	c.merging = false // one merge per response: later writes go straight out
	if c.held == nil {
		n, err := c.write2(p, nil)
		return int(n), err
	}
	h := len(*c.held)
	n, err := c.write2(*c.held, p)
	c.release()
	c.merged++
	if n < int64(h) {
		// The held bytes were reported written; the connection is
		// broken now, and err says so.
		return 0, err
	}
	return int(n) - h, err
}

// ReadFrom is what net/http's response.ReadFrom looks for on the
// connection. Anything still held goes out first. The bytes go through
// Write, whose waits for room the idle bound covers (nothing the proxy
// serves is a file to send with sendfile: bench/README.md, "Zero copy").
func (c *viewerConn) ReadFrom(r io.Reader) (int64, error) {
	c.mu.Lock()
	err := c.endMergeLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	buf := copyPool.Get().(*[]byte)
	defer copyPool.Put(buf)
	return io.CopyBuffer(writerOnly{c}, r, *buf)
}

var copyPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// SetWriteDeadline and SetDeadline keep the caller's write deadline
// where the idle bound of each wait for room can see it (rawConn).
func (c *viewerConn) SetWriteDeadline(t time.Time) error {
	return c.raw.setWriteDeadline(t)
}

func (c *viewerConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *viewerConn) release() {
	*c.held = (*c.held)[:0]
	heldPool.Put(c.held)
	c.held = nil
}

// connKey is the context key under which connContext keeps the viewer's
// connection.
type connKey struct{}

// connContext is the viewers' server's ConnContext. It lets writeBody
// reach the viewer's connection, so that a large cached body leaves in
// full segments right behind its head (see viewerConn).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if vc := viewerConnOf(c); vc != nil {
		return context.WithValue(ctx, connKey{}, vc)
	}
	return ctx
}

// viewerConnOf is the viewer connection under c: c itself, or the one the
// front handed a request of; nil for one Listener did not accept.
func viewerConnOf(c net.Conn) *viewerConn {
	switch c := c.(type) {
	case *viewerConn:
		return c
	case *handedConn:
		return c.fc.vc
	}
	return nil
}

// clientConn is the request's connection, or nil when it was not accepted
// by Listener.
func clientConn(ctx context.Context) *viewerConn {
	vc, _ := ctx.Value(connKey{}).(*viewerConn)
	return vc
}

// setWriteDeadline sets the connection's write deadline for its caller
// (net.Conn's SetWriteDeadline), kept so that a wait's idle bound
// (rawConn) yields to it when earlier and puts it back after.
func (w *rawConn) setWriteDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	w.dl.Store(ns)
	return w.tc.SetWriteDeadline(t)
}

// callerDeadline is the deadline the caller set, zero for none.
func (w *rawConn) callerDeadline() time.Time {
	if dl := w.dl.Load(); dl != 0 {
		return time.Unix(0, dl)
	}
	return time.Time{}
}

// armIdle bounds the wait for room that follows by idle from now (each
// wait follows the client's taking some bytes, or the first try): on the
// connection, so the poller keeps it. The caller's deadline stays when
// earlier. (On Linux it runs inside the poller's callback, which is
// allowed: setting a deadline takes a reference to the descriptor, not
// its write lock.)
func (w *rawConn) armIdle() {
	if w.idle <= 0 {
		return
	}
	t := time.Now().Add(w.idle)
	if dl := w.dl.Load(); dl != 0 && dl <= t.UnixNano() {
		if !w.armed {
			return // the caller's deadline is the one on the connection
		}
		t = time.Unix(0, dl)
	}
	w.tc.SetWriteDeadline(t)
	w.armed = true
}

// disarm puts the caller's deadline back after a write that armed one
// of its own.
func (w *rawConn) disarm() {
	if w.armed {
		w.armed = false
		w.tc.SetWriteDeadline(w.callerDeadline())
	}
}
