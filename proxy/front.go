package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The front serves the requests a live edge mostly gets, plain GETs and
// HEADs of fresh cached objects, on its own HTTP/1.1 connection loop, and
// hands every other request to net/http. For a small hit net/http's
// per-request machinery (its request reader, the background read that
// watches for the client leaving and its abort, three deadline changes,
// the response's buffered writer) cost about as much CPU as the edge's
// own work; the front reads a head with one peek, sets one deadline, and
// writes head and body in one write (bench/README: "The HTTP/1.1 front").
//
// What it serves is bounded twice:
//   - by the head: frontReq.parse accepts only the strict subset of HTTP/1.1 a
//     player writes. Anything else (a body, an unknown framing, a head
//     larger than the front's buffer, bytes it does not expect) goes to
//     net/http unread, and the connection stays with net/http for good,
//     so net/http alone decides what is malformed or smuggled;
//   - by the answer: the proxy's own handler runs, the same code as for
//     net/http's requests, and at the first point where it would wait on
//     something (a fill, a refresh, a held playlist request, a token
//     check) and before it has written or counted anything, it hands the
//     request to net/http (handOff). net/http then reads the same head
//     again and serves the request with all it does (the client-gone
//     watch, streaming, trailers), and gives the connection back to the
//     front when it goes idle (Server's ConnState hook).
//
// Metrics, the viewer count, the access log, CORS, Cache-Status and drain
// behave on both paths alike: they are the handler's.

// ViewerListener is the viewers' listener (Proxy.Listener): each accepted
// TCP connection gets the configured send buffer and is served by the
// front; net/http's server gets, through Accept, the connections and
// requests the front hands it.
type ViewerListener struct {
	net.Listener
	p *Proxy

	// The client settings the front applies (restart-only, read once).
	idleTimeout, headerTimeout time.Duration
	headMax                    int
	// autoConns is client.max_conns 0's limit: the open-file limit less
	// a reserve, 0 for none.
	autoConns int

	start   sync.Once
	handoff chan net.Conn
	errc    chan error
	done    chan struct{} // closed by Close
	closed  atomic.Bool

	mu    sync.Mutex
	conns map[*frontConn]struct{}
	wg    sync.WaitGroup // the accept loop and every frontConn
}

// Listener wraps the viewers' listener: each accepted TCP connection gets
// the configured send buffer (client.send_buffer, read at each accept, so a
// reload applies to new connections), and when the server serving it is
// the proxy's own (Server), the front serves its plain hits. Close it to
// stop; Wait for its connections after the server's Shutdown.
func (p *Proxy) Listener(ln net.Listener) *ViewerListener {
	c := p.view().cfg.Client
	headMax := frontHeadMax
	if m := int(c.MaxHeaderBytes); m < headMax {
		headMax = m
	}
	return &ViewerListener{
		Listener: ln, p: p, autoConns: autoConns(openFileLimit()),
		idleTimeout: c.IdleTimeout, headerTimeout: c.ReadHeaderTimeout, headMax: headMax,
		handoff: make(chan net.Conn), errc: make(chan error), done: make(chan struct{}),
		conns: make(map[*frontConn]struct{}),
	}
}

// ListenConfig is how to open the viewers' listening socket for
// Listener: TCP keep-alive as net.Listen's (probes after 15 s idle, every
// 15 s, 9 of them), set on the listening socket where the accepted ones
// inherit it (Linux) rather than on each connection, which took four of
// the seven system calls an accept cost (bench/README, "Accepting a
// herd").
func ListenConfig() net.ListenConfig { return listenConfig() }

// frontHeadMax is the front's read buffer, the largest head it serves
// (net/http's own is the same size); a larger head goes to net/http,
// which applies client.max_header_bytes.
const frontHeadMax = 4 << 10

// Accept returns the next connection for net/http: without the front, each
// accepted one; with it, those the front hands over.
func (l *ViewerListener) Accept() (net.Conn, error) {
	if !l.p.frontHooked.Load() {
		for {
			c, err := l.Listener.Accept()
			if err != nil {
				return nil, err
			}
			if c = l.wrap(c); c != nil {
				return c, nil
			}
		}
	}
	l.start.Do(func() {
		l.wg.Add(1)
		go l.acceptLoop()
	})
	select {
	case c := <-l.handoff:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// autoConns is the connection limit for an open-file limit of files: a
// tenth of it, at least 256, kept for origin connections and files, as
// HAProxy derives its maxconn. 0 for no limit known.
func autoConns(files int) int {
	if files <= 0 {
		return 0
	}
	return max(files-max(files/10, 256), 1)
}

// wrap sets a TCP connection's send buffer and makes it a *viewerConn,
// counted against client.max_conns; it closes a connection past the
// limit and returns nil.
func (l *ViewerListener) wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	cc := l.p.view().cfg.Client
	limit := cc.MaxConns
	if limit == 0 {
		limit = l.autoConns
	}
	if !l.p.conns.admit(limit) {
		// A reset, not a close: the client learns at once, and the
		// edge keeps no TIME_WAIT for it.
		tc.SetLinger(0)
		tc.Close()
		l.p.conns.refused(l.p.log, limit)
		return nil
	}
	if n := cc.SendBuffer; n > 0 {
		// SO_SNDBUF; the kernel doubles it for its bookkeeping, caps it
		// at net.core.wmem_max and stops autotuning it (tcp(7)). An
		// error leaves the kernel's default, which serves as well.
		tc.SetWriteBuffer(int(n))
	}
	vc, err := newViewerConn(tc, cc.WriteIdleTimeout)
	if err != nil {
		l.p.conns.closed() // served as net/http serves any connection, uncounted
		return c
	}
	vc.count = &l.p.conns
	return vc
}

// acceptLoop accepts connections for the front until the listener fails
// or is closed; it passes its errors to net/http's Accept.
func (l *ViewerListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errc <- err:
			case <-l.done:
				return
			}
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				continue // net/http backs off and asks again
			}
			return
		}
		wc := l.wrap(c)
		if wc == nil {
			continue // past client.max_conns
		}
		vc, ok := wc.(*viewerConn)
		if !ok {
			// Not TCP: net/http's alone.
			select {
			case l.handoff <- c:
			case <-l.done:
				c.Close()
				return
			}
			continue
		}
		fc := newFrontConn(l, vc, l.headMax)
		l.mu.Lock()
		if l.closed.Load() {
			l.mu.Unlock()
			vc.Close()
			return
		}
		l.conns[fc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go fc.serve()
	}
}

// Close stops accepting, and ends the front's connections as they go
// idle; requests being served finish (with Connection: close). It does not
// wait: Wait does.
func (l *ViewerListener) Close() error {
	err := l.Listener.Close()
	if l.closed.CompareAndSwap(false, true) {
		close(l.done)
		l.mu.Lock()
		for fc := range l.conns {
			fc.wake()
		}
		l.mu.Unlock()
	}
	return err
}

// Wait waits, after Close, for the front's connections to end, or for ctx.
func (l *ViewerListener) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// frontConn is one viewer connection the front reads requests from.
type frontConn struct {
	l      *ViewerListener
	tc     *net.TCPConn
	vc     *viewerConn // the same connection, as net/http's handed requests use it
	br     *bufio.Reader
	remote string
	w      frontWriter
	req    frontReq // the request being served, reused for the next

	// Scratch kept for the connection's life, so a response allocates
	// nothing: the head, the sorted field names, Date.
	wbuf    []byte
	keys    []string
	dateSec int64
	dateBuf []byte

	// mu orders waiting against the listener's Close (wake).
	mu      sync.Mutex
	waiting bool
}

// newFrontConn makes vc, accepted by l, a front connection whose heads
// are read with a buffer of headMax.
func newFrontConn(l *ViewerListener, vc *viewerConn, headMax int) *frontConn {
	tc := vc.raw.tc
	fc := &frontConn{l: l, tc: tc, vc: vc, remote: tc.RemoteAddr().String()}
	fc.br = bufio.NewReaderSize(vc.raw, headMax)
	fc.w.fc, fc.w.h = fc, make(http.Header)
	return fc
}

// errClosing: the listener closed while the connection waited.
var errClosing = errors.New("listener closed")

// serve reads and answers requests until the connection ends, or hands it
// to net/http for good.
func (fc *frontConn) serve() {
	defer fc.l.wg.Done()
	keep := false // the connection went to net/http for good
	defer func() {
		fc.l.mu.Lock()
		delete(fc.l.conns, fc)
		fc.l.mu.Unlock()
		if !keep {
			fc.vc.Close()
		}
	}()
	for {
		n, err := fc.readHead()
		if err != nil {
			return // as net/http: a timeout, EOF or reset mid-head gets no answer
		}
		var req *http.Request
		if n > 0 {
			head, _ := fc.br.Peek(n)
			req, _ = fc.req.parse(head, fc.remote)
		}
		if req == nil {
			// Outside the front's subset: net/http reads this request,
			// and every later one, from the bytes as they came.
			fc.l.p.metrics.Handoff("head")
			keep = fc.handOff(&handedConn{fc: fc, forGood: true})
			return
		}
		fc.w.reset(req)
		ok := fc.serveOne(req)
		if fc.w.handedOff {
			if !fc.handOffRequest(n) {
				return
			}
			continue
		}
		fc.br.Discard(n)
		if cap(fc.wbuf) > 2*frontCopyMax {
			fc.wbuf = nil // a rare large head is not kept for the connection's life
		}
		if !ok || fc.w.closeAfter {
			return
		}
	}
}

// readHead waits for the next request head and returns its length with
// the final empty line, or 0 for a head that does not fit the front's
// buffer. The connection's read deadline is the idle timeout until the
// first byte, then the header timeout, as net/http's.
func (fc *frontConn) readHead() (int, error) {
	if fc.br.Buffered() == 0 {
		var dl time.Time
		if d := fc.l.idleTimeout; d > 0 {
			dl = time.Now().Add(d)
		}
		fc.tc.SetReadDeadline(dl)
		fc.mu.Lock()
		if fc.l.closed.Load() {
			fc.mu.Unlock()
			return 0, errClosing
		}
		fc.waiting = true
		fc.mu.Unlock()
		defer func() {
			fc.mu.Lock()
			fc.waiting = false
			fc.mu.Unlock()
		}()
		if _, err := fc.br.Peek(1); err != nil {
			return 0, err
		}
	}
	timed := false
	for {
		b, _ := fc.br.Peek(fc.br.Buffered())
		if k := emptyLines(b); k > 0 {
			// RFC 9112 2.2: a server SHOULD ignore empty lines before a
			// request line (a client's stray CRLF after a request). They are
			// dropped here, so net/http, if handed the request, reads it
			// from its request line. The header timeout bounds a stream
			// of them.
			fc.br.Discard(k)
			b = b[k:]
		}
		if n := headEnd(b); n >= 0 {
			if fc.closing() {
				return 0, errClosing
			}
			return n, nil
		}
		if len(b) == fc.br.Size() {
			return 0, nil
		}
		if !timed && fc.l.headerTimeout > 0 {
			fc.tc.SetReadDeadline(time.Now().Add(fc.l.headerTimeout))
			timed = true
		}
		if _, err := fc.br.Peek(len(b) + 1); err != nil {
			return 0, err
		}
	}
}

// wake ends the wait for a request head of a connection that is waiting
// for one; called by Close.
func (fc *frontConn) wake() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.waiting {
		fc.tc.SetReadDeadline(aLongTimeAgo)
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// closing reports that the listener is closing: responses then close
// their connection.
func (fc *frontConn) closing() bool { return fc.l.closed.Load() }

// serveOne runs the proxy's handler for req on the front's writer. It
// reports false when the connection must close: a write failed, or the
// handler panicked (as net/http, which logs the panic unless it is
// http.ErrAbortHandler).
func (fc *frontConn) serveOne(req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler {
				fc.l.p.log.Error("panic serving a request", "remote", fc.remote, "panic", v, "stack", string(debug.Stack()))
			}
		}
	}()
	fc.l.p.ServeHTTP(&fc.w, req)
	if fc.w.handedOff {
		return true
	}
	fc.w.finish()
	return fc.w.err == nil
}

// handOffRequest gives the request whose head is the next n buffered
// bytes to net/http, and waits until net/http has answered it. It reports
// whether the connection is the front's again (net/http went idle on it).
func (fc *frontConn) handOffRequest(n int) bool {
	// net/http's request has no read deadline (client.read_timeout is
	// not a setting): its watch for the client leaving must not time
	// out under a long response.
	fc.tc.SetReadDeadline(time.Time{})
	h := &handedConn{fc: fc, head: n, kick: make(chan struct{}, 1), closed: make(chan struct{})}
	if !fc.handOff(h) {
		return false
	}
	<-h.closed
	return h.idle.Load() && !fc.closing()
}

// handOff passes h to net/http's Accept, unless the listener is closing.
func (fc *frontConn) handOff(h *handedConn) bool {
	select {
	case fc.l.handoff <- h:
		return true
	case <-fc.l.done:
		return false
	}
}

// date is the Date field's value, made once a second.
func (fc *frontConn) date() []byte {
	now := time.Now()
	if s := now.Unix(); s != fc.dateSec || fc.dateBuf == nil {
		fc.dateSec = s
		fc.dateBuf = now.UTC().AppendFormat(fc.dateBuf[:0], http.TimeFormat)
	}
	return fc.dateBuf
}

// handedConn is the connection net/http's server sees for what the front
// hands it. forGood: the connection itself, from the bytes the front has
// buffered on. Otherwise one request: its reads give the request's head,
// then (net/http's watch for the client leaving) report the client's
// close or block, leaving any next request's bytes for the front, until
// net/http aborts the watch with a read deadline; once net/http is idle
// (Server's ConnState hook) they report EOF, net/http closes it, and the
// front reads on.
type handedConn struct {
	fc      *frontConn
	forGood bool
	head    int // head bytes not yet read

	idle      atomic.Bool
	deadline  atomic.Int64  // the read deadline, UnixNano, 0 for none
	kick      chan struct{} // a new deadline, or idle
	closeOnce sync.Once
	closed    chan struct{}
}

func (h *handedConn) Read(p []byte) (int, error) {
	if h.forGood {
		return h.fc.br.Read(p)
	}
	if h.head > 0 {
		if len(p) > h.head {
			p = p[:h.head]
		}
		n, err := h.fc.br.Read(p)
		h.head -= n
		return n, err
	}
	for {
		if h.idle.Load() {
			return 0, io.EOF
		}
		if _, err := h.fc.br.Peek(1); err != nil {
			return 0, err // the client left, or net/http's deadline passed
		}
		// The next request's bytes: the front's. Wait for the deadline.
		var timeout <-chan time.Time
		if dl := h.deadline.Load(); dl != 0 {
			d := time.Until(time.Unix(0, dl))
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			timeout = t.C
			defer t.Stop()
		}
		select {
		case <-h.kick:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (h *handedConn) Write(p []byte) (int, error) { return h.fc.vc.Write(p) }

// ReadFrom keeps the connection's sendfile and splice for net/http.
func (h *handedConn) ReadFrom(r io.Reader) (int64, error) { return h.fc.vc.ReadFrom(r) }

func (h *handedConn) Close() error {
	if h.forGood {
		return h.fc.vc.Close()
	}
	h.closeOnce.Do(func() { close(h.closed) })
	return nil
}

func (h *handedConn) LocalAddr() net.Addr  { return h.fc.tc.LocalAddr() }
func (h *handedConn) RemoteAddr() net.Addr { return h.fc.tc.RemoteAddr() }

func (h *handedConn) SetDeadline(t time.Time) error {
	h.SetWriteDeadline(t)
	return h.SetReadDeadline(t)
}

func (h *handedConn) SetReadDeadline(t time.Time) error {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	h.deadline.Store(ns)
	h.poke()
	return h.fc.tc.SetReadDeadline(t)
}

func (h *handedConn) SetWriteDeadline(t time.Time) error { return h.fc.vc.SetWriteDeadline(t) }

func (h *handedConn) poke() {
	if h.kick == nil {
		return
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// handedState is the viewers' server's ConnState hook: a handed request's
// connection going idle is the front's again.
func handedState(c net.Conn, s http.ConnState) {
	if h, ok := c.(*handedConn); ok && !h.forGood && s == http.StateIdle {
		h.idle.Store(true)
		h.poke()
	}
}
