// Package loopback keeps the load tools on this machine.
//
// A load generator pointed at someone else's server is an attack, so the
// tools refuse any target that is not loopback (127.0.0.0/8 or ::1) unless
// the operator names that exact host. The check runs twice: once at start
// on the URL, with a message that says why, and again on every dial, so a
// redirect or an absolute segment URL in a playlist cannot lead elsewhere.
package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// ErrNotLoopback is wrapped by every refusal.
var ErrNotLoopback = errors.New("target is not loopback")

// Resolver looks up host names; *net.Resolver satisfies it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Guard decides which hosts the tools may talk to.
type Guard struct {
	// AllowHost is one host name or IP literal (no port) that may be used
	// even though it is not loopback, compared case-insensitively with the
	// URL's host as written. "" allows loopback only.
	AllowHost string
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
}

// CheckURL returns nil when raw is an http(s) URL whose host is loopback
// or is g.AllowHost, and otherwise an error that says why. A host name is
// refused if any address it resolves to is not loopback: which one the
// dialer picks is not up to us.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("check target %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("check target %q: scheme %q: want http or https", raw, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("check target %q: no host", raw)
	}
	if err := g.CheckHost(ctx, host); err != nil {
		return fmt.Errorf("refusing %s: %w", raw, err)
	}
	return nil
}

// CheckHost is CheckURL for a bare host name or IP literal.
func (g Guard) CheckHost(ctx context.Context, host string) error {
	if g.allowed(host) {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return g.refusal(host, ip.String())
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return g.refusal(host, a.IP.String())
		}
	}
	return nil
}

func (g Guard) allowed(host string) bool {
	return g.AllowHost != "" && strings.EqualFold(strings.Trim(g.AllowHost, "[]"), strings.Trim(host, "[]"))
}

func (g Guard) refusal(host, addr string) error {
	what := "host " + host
	if host != addr {
		what += " resolves to " + addr + ", which"
	}
	return fmt.Errorf("%s is not a loopback address (127.0.0.0/8 or ::1); the load tools only "+
		"target this machine unless -allow-host %s names that host: %w", what, host, ErrNotLoopback)
}

// DialContext returns a dial function for http.Transport that connects to
// loopback addresses only, or to any address of AllowHost. The address
// checked is the one actually connected to, after resolution.
func (g Guard) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := *d
	guarded.Control = func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("dial %s: %s is not a loopback address (127.0.0.0/8 or ::1): %w",
				address, host, ErrNotLoopback)
		}
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && g.allowed(host) {
			return d.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// Transport returns an http.Transport that dials through g and ignores
// HTTP_PROXY and friends (a proxy would be a non-loopback hop the guard
// never sees). perHost bounds its connections to one host; 0 means no
// bound. The caller owns it and should CloseIdleConnections when done.
func (g Guard) Transport(perHost int) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           g.DialContext(d),
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   max(perHost, 2),
		MaxConnsPerHost:       perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 0, // LL-HLS blocking reloads are held on purpose
		ForceAttemptHTTP2:     false,
	}
}
