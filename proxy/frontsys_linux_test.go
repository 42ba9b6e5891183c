package proxy

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// acceptOne accepts one loopback connection on ln and returns the
// accepted side, closing both at the end of the test.
func acceptOne(tb testing.TB, ln net.Listener) *net.TCPConn {
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
	return c.(*net.TCPConn)
}

// keepAliveOpts reads an accepted socket's keep-alive options.
func keepAliveOpts(t *testing.T, tc *net.TCPConn) [4]int {
	t.Helper()
	rc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got [4]int
	var gerr error
	rc.Control(func(fd uintptr) {
		for i, o := range [4][2]int{
			{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL},
			{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
		} {
			v, err := syscall.GetsockoptInt(int(fd), o[0], o[1])
			if err != nil {
				gerr = err
			}
			got[i] = v
		}
	})
	if gerr != nil {
		t.Fatal(gerr)
	}
	return got
}

// TestListenConfigKeepAlive: a connection accepted from ListenConfig's
// listener, which sets no keep-alive option per connection, has the same
// keep-alive probes as one accepted from net.Listen's, which sets them on
// each: it inherits them from the listening socket.
func TestListenConfigKeepAlive(t *testing.T) {
	ref, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	want := keepAliveOpts(t, acceptOne(t, ref))
	if want != [4]int{1, keepAliveIdle, keepAliveInterval, keepAliveCount} {
		t.Fatalf("net.Listen's connection: keep-alive, idle, interval, count = %v; this Go sets other defaults, update keepAlive*", want)
	}

	lc := ListenConfig()
	if lc.KeepAlive >= 0 {
		t.Errorf("ListenConfig().KeepAlive = %v: each accept would set the options again", lc.KeepAlive)
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := keepAliveOpts(t, acceptOne(t, ln)); got != want {
		t.Errorf("accepted connection: keep-alive, idle, interval, count = %v, want %v (net.Listen's)", got, want)
	}
}

// BenchmarkAccept: the CPU of accepting a connection (with the dial that
// makes it, and the two closes), from net.Listen's listener and from
// ListenConfig's.
func BenchmarkAccept(b *testing.B) {
	for _, bc := range []struct {
		name   string
		listen func() (net.Listener, error)
	}{
		{"net.Listen", func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }},
		{"ListenConfig", func() (net.Listener, error) {
			lc := ListenConfig()
			return lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ln, err := bc.listen()
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			addr := ln.Addr().String()
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ReportAllocs()
			for b.Loop() {
				client, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
				client.Close()
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
