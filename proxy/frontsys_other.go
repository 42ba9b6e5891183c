//go:build !linux

package proxy

import (
	"net"
	"syscall"
)

// rawWriter writes with the connection's own writev where raw system
// calls are not wired (see frontsys_linux.go).
type rawWriter struct {
	c   net.Conn
	iov net.Buffers
	arr [2][]byte
}

func (w *rawWriter) init(c syscall.Conn) error {
	w.c = c.(net.Conn)
	return nil
}

func (w *rawWriter) Read(p []byte) (int, error) { return w.c.Read(p) }

func (w *rawWriter) write(a, b []byte) (int64, error) {
	w.arr = [2][]byte{a, b}
	w.iov = w.arr[:]
	n, err := w.iov.WriteTo(w.c)
	w.arr, w.iov = [2][]byte{}, nil
	return n, err
}
