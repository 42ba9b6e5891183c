package proxy

import (
	"context"
	"net"
	"syscall"
	"testing"
)

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
	refConn, _ := acceptOne(t, ref)
	want := keepAliveOpts(t, refConn)
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
	conn, _ := acceptOne(t, ln)
	if got := keepAliveOpts(t, conn); got != want {
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
			cpu0 := processCPU()
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
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
