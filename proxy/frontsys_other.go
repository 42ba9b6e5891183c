//go:build !linux

package proxy

import (
	"net"
	"syscall"
)

// rawConn reads and writes with the connection's own calls where raw system
// calls are not wired (see frontsys_linux.go).
type rawConn struct {
	c   net.Conn
	iov net.Buffers
	arr [2][]byte
}

func (w *rawConn) init(c syscall.Conn) error {
	w.c = c.(net.Conn)
	return nil
}

func (w *rawConn) Read(p []byte) (int, error) { return w.c.Read(p) }

func (w *rawConn) write(a, b []byte) (int64, error) {
	w.arr = [2][]byte{a, b}
	w.iov = w.arr[:]
	n, err := w.iov.WriteTo(w.c)
	w.arr, w.iov = [2][]byte{}, nil
	return n, err
}
