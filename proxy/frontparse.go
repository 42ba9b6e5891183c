package proxy

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// frontReq is what parse fills, kept by a front connection and
// reused from one request to the next: the request, its header map and
// the array its values are cut from. A request the front reads then
// allocates only its head string and its URL; allocated afresh, these
// were about 700 of the 900 bytes each playlist hit left to the
// collector (bench/README.md, "A request's garbage"). Nothing may keep the
// request, its header or its URL once its handler has returned: a request
// handed to net/http is read again by net/http, and an access log record
// gets a copy of the header (Proxy.end).
type frontReq struct {
	req  http.Request
	h    http.Header
	strs []string
}

// frontReqKeep bounds the header fields a frontReq keeps room for between
// requests: a rare head with many is not kept for the connection's life.
const frontReqKeep = 32

// parse reads a request head for the front (front.go) into r: the strict
// subset of HTTP/1.1 (RFC 9112) a player's GET or HEAD is written in. head
// is the whole head, its final empty line included. It reports false for
// anything else, and the request then goes to net/http unread, which
// decides what it is (and answers 400, 431 or 501 where it must): the
// front never judges a doubtful request itself. What it accepts,
// http.ReadRequest reads to the same request (FuzzParseFront checks it),
// with the server's own rules applied: exactly one valid Host, no body,
// Pragma: no-cache read as Cache-Control: no-cache.
//
// Accepted: the request line "GET" or "HEAD", SP, an origin-form target
// (RFC 9112 3.2.1) of unreserved, sub-delims, ":", "@", "/", "?" and
// percent escapes only, SP, "HTTP/1.1"; then header fields of token names
// (RFC 9110 5.1) and visible ASCII values, each line ended by CRLF. Not
// accepted: any body framing (Content-Length, Transfer-Encoding: RFC 9112
// 6.1 makes these the smuggler's tools), Expect, Upgrade, Trailer,
// HTTP2-Settings, a Connection field other than one "close" or
// "keep-alive", obs-fold (RFC 9112 5.2), bare CR or LF, obs-text.
func (r *frontReq) parse(head []byte, remoteAddr string) (*http.Request, bool) {
	if !bytes.HasSuffix(head, crlf2) {
		return nil, false
	}
	// One string for the head: the method, target and every value are
	// its substrings, as in net/http's own reader.
	s := string(head[:len(head)-2])
	line, rest, _ := strings.Cut(s, "\r\n")
	var method string
	switch {
	case strings.HasPrefix(line, "GET "):
		method, line = http.MethodGet, line[4:]
	case strings.HasPrefix(line, "HEAD "):
		method, line = http.MethodHead, line[5:]
	default:
		return nil, false
	}
	target, proto, ok := strings.Cut(line, " ")
	if !ok || proto != "HTTP/1.1" || !validFrontTarget(target) {
		return nil, false
	}
	n := strings.Count(rest, "\r\n")
	if r.h == nil || len(r.h) > frontReqKeep {
		r.h = make(http.Header, n)
	} else {
		clear(r.h)
	}
	h := r.h
	if cap(r.strs) < n || cap(r.strs) > frontReqKeep {
		r.strs = make([]string, n)
	}
	strs := r.strs[:n] // every value's slice, cut from one array
	var host string
	hosts, close, conns := 0, false, 0
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) {
			return nil, false
		}
		value = strings.Trim(value, " \t")
		if !validFrontValue(value) {
			return nil, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name) // name itself when canonical
		switch key {
		case "Host":
			hosts++
			host = value
		case "Connection":
			conns++
			switch {
			case strings.EqualFold(value, "close"):
				close = true
			case strings.EqualFold(value, "keep-alive"):
			default:
				return nil, false
			}
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade", "Trailer", "Http2-Settings":
			return nil, false
		}
		if vv := h[key]; vv == nil {
			strs[0] = value
			h[key], strs = strs[:1:1], strs[1:]
		} else {
			h[key] = append(vv, value)
		}
	}
	if hosts != 1 || conns > 1 || !validFrontHost(host) {
		return nil, false
	}
	delete(h, "Host") // net/http moves it to Request.Host
	if pragma := h["Pragma"]; len(pragma) > 0 && pragma[0] == "no-cache" && h["Cache-Control"] == nil {
		// As net/http's fixPragmaCacheControl (RFC 9111 5.4).
		h["Cache-Control"] = []string{"no-cache"}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, false
	}
	r.req = http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RemoteAddr: remoteAddr,
		RequestURI: target,
		Close:      close,
	}
	return &r.req, true
}

var crlf2 = []byte("\r\n\r\n")

// headEnd returns the length of the request head at the start of b, up to
// and with its first empty line, or -1 when b holds no empty line yet. A
// line ends with LF, a CR before it optional: RFC 9112 2.2 lets a
// recipient take a bare LF as a line end, and net/http does, so a head a
// client ends with bare LFs is whole here too (parse refuses it, and
// net/http reads it) rather than waited on until the header timeout. What
// net/http reads as a whole head, headEnd ends where net/http does
// (FuzzHeadEnd).
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// emptyLines is the length of the empty lines b starts with: CRLF, or
// a bare LF (RFC 9112 2.2). A bare CR is not one.
func emptyLines(b []byte) int {
	i := 0
	for {
		switch {
		case i < len(b) && b[i] == '\n':
			i++
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			i += 2
		default:
			return i
		}
	}
}

// validFrontTarget: an origin-form target of RFC 3986 path and query
// characters only (pchar, "/", "?").
func validFrontTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !isPchar(c) && c != '/' && c != '?' {
			return false
		}
	}
	return true
}

// validFrontValue: visible ASCII, SP and HTAB (RFC 9110 5.5, without
// obs-text).
func validFrontValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

// validFrontHost: a name or address and port, letters, digits, ".", "-",
// "_", ":", "[" and "]"; stricter than net/http's check.
func validFrontHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c == '~' || !isUnreserved(c) && strings.IndexByte(":[]", c) < 0 {
			return false
		}
	}
	return true
}
