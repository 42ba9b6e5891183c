//go:build !linux

package proxy

import (
	"net"
	"sync/atomic"
	"time"
)

// rawConn reads and writes with the connection's own calls where raw
// system calls are not wired (see frontsys_linux.go). A write goes in
// pieces, each bounded by idle from its start: near the Linux bound,
// which restarts at each wait for room.
type rawConn struct {
	tc    *net.TCPConn
	idle  time.Duration
	dl    atomic.Int64
	armed bool
	iov   net.Buffers
	arr   [2][]byte
}

func (w *rawConn) init(tc *net.TCPConn, idle time.Duration) error {
	w.tc, w.idle = tc, idle
	return nil
}

func (w *rawConn) Read(p []byte) (int, error) { return w.tc.Read(p) }

// idlePiece is what one bounded write sends at most.
const idlePiece = 256 << 10

func (w *rawConn) write(a, b []byte) (int64, error) {
	defer func() {
		w.arr, w.iov = [2][]byte{}, nil // keep no body alive
		w.disarm()
	}()
	var n int64
	for len(a)+len(b) > 0 {
		pa, pb := a, b
		if w.idle > 0 {
			pa = a[:min(len(a), idlePiece)]
			pb = b[:min(len(b), idlePiece-len(pa))]
			w.armIdle()
		}
		w.arr = [2][]byte{pa, pb}
		w.iov = w.arr[:]
		k, err := w.iov.WriteTo(w.tc)
		n += k
		if err != nil {
			return n, err
		}
		a, b = a[len(pa):], b[len(pb):]
	}
	return n, nil
}

// listenConfig is net.Listen's: keep-alive set on each accepted
// connection (see frontsys_linux.go).
func listenConfig() net.ListenConfig { return net.ListenConfig{} }

// openFileLimit: not read here; client.max_conns 0 is no limit.
func openFileLimit() int { return 0 }
