package proxy

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// frontWriter is the http.ResponseWriter of a request the front serves
// (front.go). It writes a response as net/http's server would (the same
// head fields added or suppressed: Date, Content-Length, Content-Type
// sniffing, Connection: close; the same refusals of a body where none is
// allowed or beyond Content-Length), but sends the head with the body's
// first bytes in one write, and keeps no buffer of its own between
// writes. A request the front cannot finish without waiting on something
// (a fill, a refresh, a held playlist request) is handed to net/http
// before anything is written: handOff in exchange.go.
type frontWriter struct {
	fc  *frontConn
	req *http.Request
	h   http.Header // kept across requests, cleared for each

	wroteHeader bool // a final status was set
	headSent    bool
	status      int
	cl          int64 // the declared Content-Length, or -1
	written     int64 // body bytes the handler wrote
	// held is a body of unknown length, kept until the handler returns
	// so it can be sent with a Content-Length (up to frontHoldMax).
	held       []byte
	closeAfter bool
	handedOff  bool
	// What WriteHeader saw of the handler's fields, for the fields
	// sendHead adds after them.
	hasType, hasDate, connClose bool
	clComputed                  bool  // cl is the held body's, for sendHead to add
	err                         error // the connection failed; it is closed after this response
}

// frontHoldMax bounds a body of unknown length held for its
// Content-Length; beyond it the response is delimited by closing the
// connection (RFC 9112 6.3). Bodies the front serves declare their length
// (cached entries) or are small (the edge's own errors).
const frontHoldMax = 64 << 10

func (w *frontWriter) reset(req *http.Request) {
	clear(w.h)
	held := w.held[:0]
	if cap(held) > 4<<10 {
		held = nil // a rare large one is not kept for the connection's life
	}
	*w = frontWriter{fc: w.fc, req: req, h: w.h, cl: -1, held: held}
}

func (w *frontWriter) Header() http.Header { return w.h }

func (w *frontWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code)) // as net/http
	}
	if w.wroteHeader {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// An interim response goes out at once, its own head.
		b := appendStatusLine(w.fc.wbuf[:0], code)
		b = w.appendFields(b, suppressedNoBody, false)
		b = append(b, "\r\n"...)
		w.fc.wbuf = b
		w.send(b, nil)
		return
	}
	w.wroteHeader, w.status = true, code
	h := w.h
	if v := h["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			delete(h, "Content-Length") // as net/http: an invalid one is dropped
		}
	}
	// The head's fields are written now, as net/http takes its copy of
	// them now: the handler's values may be reused once it returns (the
	// exchange's Cache-Status is). sendHead adds net/http's own after
	// them.
	suppress := noSuppress
	switch {
	case code == http.StatusNotModified:
		suppress = suppressed304
	case !bodyAllowed(code):
		suppress = suppressedNoBody
	}
	_, w.hasType = h["Content-Type"]
	w.hasType = w.hasType || h.Get("Content-Encoding") != "" // no sniffing then (net/http)
	_, w.hasDate = h["Date"]
	w.connClose = hasCloseToken(h["Connection"])
	w.closeAfter = w.connClose || w.req.Close || w.fc.closing()
	dropConn := w.closeAfter && !w.connClose // replaced by "Connection: close"
	b := appendStatusLine(w.fc.wbuf[:0], code)
	w.fc.wbuf = w.appendFields(b, suppress, dropConn)
}

func (w *frontWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.cl != -1 && w.written > w.cl {
		return 0, http.ErrContentLength
	}
	if w.req.Method == http.MethodHead {
		// Counted (for the Content-Length net/http would send when the
		// handler declared none), not sent; the first bytes are kept to
		// sniff a Content-Type from, as net/http does.
		if !w.headSent && len(w.held) < sniffLen {
			w.held = append(w.held, p[:min(len(p), sniffLen-len(w.held))]...)
		}
		return len(p), nil
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.headSent {
		return w.fc.tc.Write(p)
	}
	if w.cl == -1 {
		if len(w.held)+len(p) <= frontHoldMax {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		// Too long to hold: delimited by the connection's close.
		w.closeAfter = true
		if len(w.held) == 0 {
			w.sendHead(p) // sniffed from p, as net/http
		} else {
			w.sendHead(w.held)
			w.send(p, nil)
		}
		if w.err != nil {
			return 0, w.err
		}
		return len(p), nil
	}
	w.sendHead(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// FlushError sends the head and what is held (http.ResponseController).
// A body of unknown length is then delimited by the connection's close.
func (w *frontWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		if w.cl == -1 && bodyAllowed(w.status) && w.req.Method != http.MethodHead {
			w.closeAfter = true
		}
		w.sendHead(w.held)
	}
	return w.err
}

func (w *frontWriter) Flush() { w.FlushError() }

// SetWriteDeadline and SetReadDeadline are http.ResponseController's.
func (w *frontWriter) SetWriteDeadline(t time.Time) error { return w.fc.vc.SetWriteDeadline(t) }
func (w *frontWriter) SetReadDeadline(t time.Time) error  { return w.fc.tc.SetReadDeadline(t) }

// finish completes the response when the handler has returned, as
// net/http's finishRequest: the head if it is still unsent (with the
// Content-Length of what was held), and the connection closed after a
// body shorter than it declared.
func (w *frontWriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		if w.cl == -1 && bodyAllowed(w.status) && (w.req.Method != http.MethodHead || w.written > 0) {
			w.cl, w.clComputed = w.written, true
		}
		w.sendHead(w.held)
	}
	if w.req.Method != http.MethodHead && w.cl != -1 && bodyAllowed(w.status) && w.written != w.cl {
		w.closeAfter = true // short: the client must not read on into the next response
	}
}

// sendHead completes the head WriteHeader began with the fields net/http
// adds (in its order: Date, a Content-Length it computed, a sniffed
// Content-Type, Connection: close) and writes it with body, the first
// bytes of the body or all of it, in one write.
func (w *frontWriter) sendHead(body []byte) {
	w.headSent = true
	b := w.fc.wbuf
	if !w.hasDate {
		b = append(b, "Date: "...)
		b = append(b, w.fc.date()...)
		b = append(b, "\r\n"...)
	}
	if w.clComputed {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, w.cl, 10)
		b = append(b, "\r\n"...)
	}
	if bodyAllowed(w.status) && !w.hasType && len(body) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(body[:min(len(body), sniffLen)])...)
		b = append(b, "\r\n"...)
	}
	if w.closeAfter && !w.connClose {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	if w.req.Method == http.MethodHead || !bodyAllowed(w.status) {
		body = nil
	}
	w.fc.wbuf = b
	w.send(b, body)
}

// send writes head and body (either may be empty) in one write.
func (w *frontWriter) send(head, body []byte) {
	if w.err != nil {
		return
	}
	if len(head) > 0 && len(body) > 0 && len(head)+len(body) <= frontCopyMax {
		w.fc.wbuf = append(head, body...)
		head, body = w.fc.wbuf, nil
	}
	if _, err := w.fc.vc.raw.write(head, body); err != nil {
		w.err, w.closeAfter = err, true
	}
}

// sniffLen is what http.DetectContentType reads.
const sniffLen = 512

// frontCopyMax: a body up to this size is copied behind its head for a
// plain write; a larger one goes out in a writev beside it. Small, as the
// head buffer is kept for the connection's life.
const frontCopyMax = 4 << 10

// appendFields appends the handler's header fields as net/http writes
// them: sorted by name, invalid names dropped, CR and LF in values turned
// to spaces and values trimmed; without the fields in suppress, the
// TrailerPrefix keys, Transfer-Encoding (the front never chunks: a length
// or the connection's close delimits a body) and, if dropConn, Connection.
func (w *frontWriter) appendFields(b []byte, suppress []string, dropConn bool) []byte {
	keys := w.fc.keys[:0]
	for k := range w.h {
		if slices.Contains(suppress, k) || strings.HasPrefix(k, http.TrailerPrefix) ||
			k == "Transfer-Encoding" || dropConn && k == "Connection" {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range w.h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendFieldValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	clear(keys)
	w.fc.keys = keys[:0]
	return b
}

// appendFieldValue appends v with CR and LF as spaces, trimmed.
func appendFieldValue(b []byte, v string) []byte {
	start := len(b)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return append(b[:start], textproto.TrimBytes(b[start:])...)
}

func appendStatusLine(b []byte, code int) []byte {
	b = append(b, "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, ' ')
		b = append(b, text...)
	} else {
		// As net/http: "%03d status code %d" (code is 100 to 999).
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, " status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// bodyAllowed reports whether a response with this status may have a body
// (RFC 9110 15.2, 15.3.5, 15.4.5).
func bodyAllowed(code int) bool {
	return !(code >= 100 && code <= 199 || code == http.StatusNoContent || code == http.StatusNotModified)
}

func hasCloseToken(v []string) bool {
	return httpguts.HeaderValuesContainsToken(v, "close")
}

var (
	noSuppress       []string
	suppressedNoBody = []string{"Content-Length", "Transfer-Encoding"}
	suppressed304    = []string{"Content-Type", "Content-Length", "Transfer-Encoding"}
)
