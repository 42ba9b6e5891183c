package proxy

import (
	"context"
	"log"
	"net"
	"net/http"
)

// Server returns the http.Server viewers connect to: the proxy as its
// handler, the client limits of its config (restart-only settings, so
// fixed here), and connContext, which corkWhile needs. errLog may be nil.
func (p *Proxy) Server(errLog *log.Logger) *http.Server {
	c := p.view().cfg.Client
	return &http.Server{
		Handler:           p,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes(c.MaxHeaderBytes),
		ErrorLog:          errLog,
		ConnContext:       connContext,
	}
}

// headerSlack is what net/http adds to Server.MaxHeaderBytes before it
// refuses a request head (its initialReadLimitSize: "bufio slop").
const headerSlack = 4096

// serverMaxHeaderBytes turns the configured bound on a request head into
// net/http's setting, so that a head of exactly the configured size is
// read and one byte more gets 431. Validate keeps the bound above the
// slack.
func serverMaxHeaderBytes(limit ByteSize) int {
	return int(limit) - headerSlack
}

// connKey is the context key under which connContext keeps the client's
// TCP connection.
type connKey struct{}

// connContext is the viewers' server's ConnContext. It lets the proxy
// reach the client's TCP connection, so that a large cached body leaves in full
// segments right behind its head instead of after a short first packet
// (see corkWhile).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*net.TCPConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// clientConn is the request's TCP connection, or nil when the server was
// not built by Server (or the client is not on TCP).
func clientConn(ctx context.Context) *net.TCPConn {
	tc, _ := ctx.Value(connKey{}).(*net.TCPConn)
	return tc
}
