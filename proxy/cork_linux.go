package proxy

import (
	"net"
	"syscall"
)

// corkWhile runs write with TCP_CORK set on c, then clears it, which sends
// whatever is left at once.
//
// net/http writes a response head into its 4 KiB connection buffer and, on
// a large body, flushes that buffer as a write of its own before the body.
// With TCP_NODELAY (Go's default) the head and the first few KiB leave as a
// small segment of their own. On loopback that pattern keeps the client's
// receive window small (its receive-RTT estimate collapses), and a 1.2 MB
// hit costs the client about a quarter more CPU than one that leaves in
// full segments, as writev(head, body) from Varnish does. Corking makes
// the two writes one stream.
func corkWhile(c *net.TCPConn, write func()) {
	if c == nil {
		write()
		return
	}
	rc, err := c.SyscallConn()
	if err != nil {
		write()
		return
	}
	set := func(v int) {
		rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
		})
	}
	set(1)
	defer set(0)
	write()
}
