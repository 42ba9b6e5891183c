package proxy

import (
	"context"
	"net"
)

// connKey is the context key under which ConnContext keeps the client's
// TCP connection.
type connKey struct{}

// ConnContext is meant for http.Server.ConnContext. It lets the proxy reach
// the client's TCP connection, so that a large cached body leaves in full
// segments right behind its head instead of after a short first packet
// (see corkWhile).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*net.TCPConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// clientConn is the request's TCP connection, or nil when the server was
// not set up with ConnContext (or the client is not on TCP).
func clientConn(ctx context.Context) *net.TCPConn {
	tc, _ := ctx.Value(connKey{}).(*net.TCPConn)
	return tc
}
