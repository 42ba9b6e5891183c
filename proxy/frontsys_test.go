package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// acceptOne dials ln over loopback and returns the accepted side and the
// client side, both closed at the end of the test.
func acceptOne(tb testing.TB, ln net.Listener) (*net.TCPConn, net.Conn) {
	tb.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	c, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), client
}

// loopbackPair returns both sides of a loopback TCP connection, the
// accepted one first, both closed at the end of the test.
func loopbackPair(t *testing.T) (*net.TCPConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return acceptOne(t, ln)
}

// rawPair returns a rawConn on the server side of a loopback TCP
// connection, and the client side.
func rawPair(t *testing.T) (*rawConn, *net.TCPConn, net.Conn) {
	t.Helper()
	tc, client := loopbackPair(t)
	tc.SetWriteBuffer(16 << 10) // small, so a body takes many calls and many waits for room
	var w rawConn
	if err := w.init(tc, 0); err != nil {
		t.Fatal(err)
	}
	return &w, tc, client
}

// TestRawConnPartialWrites: a head and a body far larger than the
// socket's buffer, to a client that reads in small pieces, arrive whole
// and in order (each call writes part, the poller waits for room, the
// rest follows), and write reports every byte.
func TestRawConnPartialWrites(t *testing.T) {
	w, _, client := rawPair(t)
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 7 >> 3)
	}
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 1500)
		for b.Len() < len(head)+len(body) {
			n, err := client.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		got <- b.Bytes()
	}()
	n, err := w.write(head, body)
	if err != nil || n != int64(len(head)+len(body)) {
		t.Fatalf("write = %d, %v; want %d, nil", n, err, len(head)+len(body))
	}
	b := <-got
	if !bytes.Equal(b, append(head, body...)) {
		t.Fatalf("client got %d bytes, not the head and body written (%d)", len(b), len(head)+len(body))
	}
	// Either part alone.
	for _, c := range []struct{ a, b []byte }{{head, nil}, {nil, head}} {
		if n, err := w.write(c.a, c.b); err != nil || n != int64(len(head)) {
			t.Fatalf("write = %d, %v", n, err)
		}
		buf := make([]byte, len(head))
		if _, err := io.ReadFull(client, buf); err != nil || !bytes.Equal(buf, head) {
			t.Fatalf("client read %q, %v", buf, err)
		}
	}
}

// TestRawConnDeadline: a client that never reads cannot hold a write
// past its deadline; the error is the deadline's, as net.Conn's, and the
// count is what went out.
func TestRawConnDeadline(t *testing.T) {
	w, tc, _ := rawPair(t)
	body := make([]byte, 64<<20)
	tc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := w.write(nil, body)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a client that does not read: %v, want the deadline's error", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("%v is not a net.Error with Timeout", err)
	}
	if n >= int64(len(body)) {
		t.Errorf("wrote %d of %d bytes to a client that reads nothing", n, len(body))
	}
}

// TestRawConnRead: reads return what the client sent, the deadline's
// error (as net.Conn's) when nothing comes, io.EOF once the client has
// closed, and net.ErrClosed after the connection is closed.
func TestRawConnRead(t *testing.T) {
	w, tc, client := rawPair(t)
	client.Write([]byte("GET / HTTP/1.1\r\n"))
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(w, buf, 16)
	if err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	tc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := w.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v, want the deadline's error", err)
	}
	tc.SetReadDeadline(time.Time{})
	if n, err := w.Read(nil); n != 0 || err != nil {
		t.Fatalf("read into nothing = %d, %v", n, err)
	}
	client.Close()
	if n, err := w.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after the client closed = %d, %v; want 0, EOF", n, err)
	}
	tc.Close()
	if _, err := w.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v, want net.ErrClosed", err)
	}
	if _, err := w.write([]byte("x"), nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v, want net.ErrClosed", err)
	}
}

// TestRawConnReset: a write to a client that reset the connection
// fails (and does not hang or report success).
func TestRawConnReset(t *testing.T) {
	w, _, client := rawPair(t)
	client.(*net.TCPConn).SetLinger(0)
	client.Close() // RST
	body := make([]byte, 1<<20)
	var err error
	for i := 0; i < 100 && err == nil; i++ { // the first write may land before the reset is seen
		_, err = w.write(nil, body)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
}

func TestRawConnAllocs(t *testing.T) {
	w, _, client := rawPair(t)
	go io.Copy(io.Discard, client)
	head, body := []byte("HTTP/1.1 200 OK\r\n\r\n"), make([]byte, 64<<10)
	if a := testing.AllocsPerRun(100, func() { w.write(head, body) }); a != 0 {
		t.Errorf("write allocates %.1f times, want 0", a)
	}
}

// TestRawConnIdle: each wait for room is bounded by the idle timeout
// (client.write_idle_timeout), from the last time the client took bytes,
// not from the write's start; a caller's earlier deadline wins; and the
// connection's deadline is the caller's again after a write.
func TestRawConnIdle(t *testing.T) {
	t.Run("a client that reads nothing", func(t *testing.T) {
		w, _, _ := rawPair(t)
		w.idle = 100 * time.Millisecond
		n, err := w.write(nil, make([]byte, 64<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a client that reads nothing, with no deadline set: %v, want the idle bound's error", err)
		}
		if n >= 64<<20 {
			t.Errorf("wrote all %d bytes", n)
		}
	})
	t.Run("a client that keeps reading", func(t *testing.T) {
		// 4 MiB through 16 KiB buffers, 16 KiB taken every 10 ms: the
		// write lasts longer than the idle bound (at least the reader's
		// 2.5 s of sleeps), but no wait does, with 1.5 s to spare for a
		// busy machine.
		w, _, client := rawPair(t)
		if err := client.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
			t.Fatal(err)
		}
		w.idle = 1500 * time.Millisecond
		body := make([]byte, 4<<20)
		done := make(chan int64)
		go func() {
			var got int64
			buf := make([]byte, 16<<10)
			for got < int64(len(body)) {
				n, err := client.Read(buf)
				got += int64(n)
				if err != nil {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			done <- got
		}()
		start := time.Now()
		if n, err := w.write(nil, body); err != nil || n != int64(len(body)) {
			t.Fatalf("write = %d, %v after %v; want every byte", n, err, time.Since(start))
		}
		took := time.Since(start)
		if got := <-done; got != int64(len(body)) {
			t.Fatalf("client got %d bytes", got)
		}
		if took <= w.idle {
			t.Fatalf("the write took %v, no longer than the idle bound %v: the case shows nothing", took, w.idle)
		}
	})
	t.Run("the caller's earlier deadline", func(t *testing.T) {
		w, _, _ := rawPair(t)
		w.idle = time.Hour
		w.setWriteDeadline(time.Now().Add(100 * time.Millisecond))
		errc := make(chan error, 1)
		go func() {
			_, err := w.write(nil, make([]byte, 64<<20))
			errc <- err
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write: %v, want the caller's deadline's error", err)
			}
		case <-time.After(30 * time.Second): // liveness only
			t.Fatal("the idle bound of an hour replaced the caller's deadline of 100 ms")
		}
	})
	t.Run("the caller's deadline is back after a write", func(t *testing.T) {
		w, _, client := rawPair(t)
		w.idle = 500 * time.Millisecond
		go io.Copy(io.Discard, client)
		// Waits for room arm the idle bound; the write succeeds.
		if _, err := w.write(nil, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		// Past that bound, with no deadline of the caller's, a write
		// must not fail on the bound a finished write had set.
		time.Sleep(time.Second)
		if _, err := w.write([]byte("next"), nil); err != nil {
			t.Fatalf("write after an idle pause: %v", err)
		}
	})
}
