package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"
)

func corked(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	v := -1
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v
}

func TestCorkWhile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	during := -1
	corkWhile(tc, func() {
		during = corked(t, tc)
		tc.Write(make([]byte, 1<<20))
	})
	if during != 1 {
		t.Errorf("TCP_CORK during the write = %d, want 1", during)
	}
	if after := corked(t, tc); after != 0 {
		t.Errorf("TCP_CORK after the write = %d, want 0: the tail would wait 200 ms", after)
	}
	ran := false
	corkWhile(nil, func() { ran = true })
	if !ran {
		t.Error("corkWhile(nil) did not run the write")
	}
}

// TestLargeHitCorked checks the server wiring: a large cached body goes out
// corked on the client's own connection while the client is not reading
// it, arrives intact, and leaves the connection uncorked for the next
// response.
func TestLargeHitCorked(t *testing.T) {
	// Larger than the socket buffers can take, so the write blocks while
	// the client does not read.
	body := bytes.Repeat([]byte("0123456789abcdef"), (16<<20)/16)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write(body)
	}))
	defer origin.Close()
	var mu sync.Mutex
	var conns []*net.TCPConn
	e := newEdgeServer(t, origin.URL, nil, func(s *http.Server) {
		next := s.ConnContext
		s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			mu.Lock()
			conns = append(conns, c.(*net.TCPConn))
			mu.Unlock()
			return next(ctx, c)
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i, want := range []string{"MISS", "HIT", "HIT"} {
		resp, err := client.Get(e.URL + "/seg/1.m4s")
		if err != nil {
			t.Fatal(err)
		}
		if st := resp.Header.Get("X-Cache-Status"); st != want {
			t.Errorf("request %d: X-Cache-Status %q, want %q", i, st, want)
		}
		if want == "HIT" {
			mu.Lock()
			c := conns[len(conns)-1]
			mu.Unlock()
			deadline := time.Now().Add(5 * time.Second)
			for corked(t, c) != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("request %d: the connection was never corked while the hit's body was being written", i)
				}
				time.Sleep(time.Millisecond)
			}
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("request %d: body of %d bytes differs from the origin's %d", i, len(got), len(body))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("%d client connections, want 1 kept alive", len(conns))
	}
	deadline := time.Now().Add(5 * time.Second)
	for corked(t, conns[0]) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("TCP_CORK left set after the hits")
		}
		time.Sleep(time.Millisecond)
	}
}
