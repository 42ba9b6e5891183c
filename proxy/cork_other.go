//go:build !linux

package proxy

import "net"

// corkWhile runs write: TCP_CORK is Linux's.
func corkWhile(_ *net.TCPConn, write func()) { write() }
