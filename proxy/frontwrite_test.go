package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// frontWriterCases are handlers doing what the proxy's hit path never
// does but a ResponseWriter must get right. Each runs on the front's
// writer and on net/http's; the responses must match (but where noted).
var frontWriterCases = []struct {
	name    string
	handler func(t *testing.T, w http.ResponseWriter)
	// framingDiffers: net/http chunks a long body of unknown length; the
	// front delimits it by closing the connection (and for HEAD gives the
	// length written, where net/http gives none). Same status, fields but
	// framing, and body.
	framingDiffers bool
}{
	{name: "small body, no length", handler: func(t *testing.T, w http.ResponseWriter) {
		io.WriteString(w, "hello ")
		io.WriteString(w, "world")
	}},
	{name: "nothing written", handler: func(t *testing.T, w http.ResponseWriter) {}},
	{name: "sniffed type", handler: func(t *testing.T, w http.ResponseWriter) {
		io.WriteString(w, "<!DOCTYPE html><p>x")
	}},
	{name: "no sniffing with Content-Encoding", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, "<!DOCTYPE html><p>x")
	}},
	{name: "204 refuses a body", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Content-Length", "5")
		w.WriteHeader(http.StatusNoContent)
		if _, err := io.WriteString(w, "body"); !errors.Is(err, http.ErrBodyNotAllowed) {
			t.Errorf("Write after 204: %v, want ErrBodyNotAllowed", err)
		}
	}},
	{name: "304 drops its body fields", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "5")
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	}},
	{name: "longer than declared", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Content-Length", "5")
		if _, err := io.WriteString(w, "123456"); !errors.Is(err, http.ErrContentLength) {
			t.Errorf("Write past Content-Length: %v, want ErrContentLength", err)
		}
		io.WriteString(w, "12345")
	}},
	{name: "shorter than declared closes", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "12345")
		http.NewResponseController(w).Flush()
	}},
	{name: "field values cleaned, bad names dropped", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header()["X-Split"] = []string{"a\r\nInjected: yes", "  padded  "}
		w.Header()["Bad Name"] = []string{"x"}
		io.WriteString(w, "ok")
	}},
	{name: "unknown status", handler: func(t *testing.T, w http.ResponseWriter) {
		w.WriteHeader(599)
		io.WriteString(w, "odd")
	}},
	{name: "early hints", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Link", "</a.m4s>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Length", "2")
		io.WriteString(w, "ok")
	}},
	{name: "handler asks to close", handler: func(t *testing.T, w http.ResponseWriter) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}},
	{name: "declared, in pieces", handler: func(t *testing.T, w http.ResponseWriter) {
		body := strings.Repeat("z", 20000)
		w.Header().Set("Content-Length", "20000")
		io.WriteString(w, body[:7000])
		io.WriteString(w, body[7000:])
	}},
	{name: "long body of unknown length", framingDiffers: true, handler: func(t *testing.T, w http.ResponseWriter) {
		io.WriteString(w, strings.Repeat("y", frontHoldMax+1))
	}},
	{name: "flushed body of unknown length", framingDiffers: true, handler: func(t *testing.T, w http.ResponseWriter) {
		io.WriteString(w, "first ")
		http.NewResponseController(w).Flush()
		io.WriteString(w, "second")
	}},
}

// TestFrontWriterMatchesNetHTTP runs each case on the front's writer over
// a real connection and on net/http's, and compares the responses as
// they arrive.
func TestFrontWriterMatchesNetHTTP(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, tc := range frontWriterCases {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				req := method + " /x HTTP/1.1\r\nHost: h\r\n\r\n"
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.handler(t, w) }))
				defer srv.Close()
				want := frontExchange(t, srv.Listener.Addr().String(), req)
				got := frontWriterExchange(t, req, tc.handler)
				if tc.framingDiffers && method == http.MethodGet {
					checkSameButFraming(t, got, want)
					return
				}
				if tc.framingDiffers {
					// HEAD: net/http gives no length for what it would
					// have chunked; the front gives what was written.
					got = regexp.MustCompile(`Content-Length: \d+\r\n`).ReplaceAllString(got, "")
				}
				if got != want {
					t.Errorf("front's writer:\n%q\nnet/http:\n%q", got, want)
				}
			})
		}
	}
}

// frontWriterExchange runs handler on a frontWriter for req over a
// loopback connection, as serveOne does, and returns what the client got
// as frontExchange does.
func frontWriterExchange(t *testing.T, rawReq string, handler func(*testing.T, http.ResponseWriter)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		vc, err := newViewerConn(c.(*net.TCPConn), 0)
		if err != nil {
			t.Error(err)
			return
		}
		fc := newFrontConn(&ViewerListener{}, vc, 4096)
		n, err := fc.readHead()
		if err != nil {
			t.Error(err)
			return
		}
		head, _ := fc.br.Peek(n)
		req, ok := new(frontReq).parse(head, c.RemoteAddr().String())
		if !ok {
			t.Error("the front refused the test's request")
			return
		}
		fc.w.reset(req)
		handler(t, &fc.w)
		fc.w.finish()
		if !fc.w.closeAfter {
			// Kept alive: wait for the client to finish with it.
			io.Copy(io.Discard, c)
		}
	}()
	got := frontExchange(t, ln.Addr().String(), rawReq)
	return got
}

// checkSameButFraming compares two responses but for how the body is
// delimited: the front's closes its connection, net/http's is chunked.
func checkSameButFraming(t *testing.T, front, nethttp string) {
	t.Helper()
	parse := func(s string) (*http.Response, string) {
		s, _, _ = strings.Cut(s, "\n[")
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(s)), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	fr, fb := parse(front)
	nr, nb := parse(nethttp)
	if fr.StatusCode != nr.StatusCode || fb != nb {
		t.Errorf("status %d, %d body bytes; net/http %d, %d", fr.StatusCode, len(fb), nr.StatusCode, len(nb))
	}
	if !strings.HasSuffix(front, "[closed]") || fr.ContentLength != -1 || !fr.Close {
		t.Errorf("the front's body of unknown length must end with the connection:\n%q", front)
	}
	for k := range nr.Header {
		if k != "Date" && fr.Header.Get(k) != nr.Header.Get(k) {
			t.Errorf("%s: %q, net/http %q", k, fr.Header.Get(k), nr.Header.Get(k))
		}
	}
}
