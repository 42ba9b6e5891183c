// Package origintest starts a real packager on loopback ports for other
// packages' tests, the way net/http/httptest starts an HTTP server.
package origintest

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgecache/edgecache/origin"
)

// Packager is a running packager. Its RTMP and HTTP listeners are bound
// to 127.0.0.1 on ephemeral ports.
type Packager struct {
	Server   *origin.Server
	Registry *prometheus.Registry
	// RTMPAddr is host:port of the RTMP listener.
	RTMPAddr string
	// URL is the base URL of the HTTP side, e.g. http://127.0.0.1:41234.
	URL string
}

// Start starts a packager with cfg (zero fields take their defaults).
// It is stopped, and its goroutines waited for, when the test ends.
func Start(tb testing.TB, cfg origin.Config) *Packager {
	tb.Helper()
	reg := prometheus.NewRegistry()
	srv, err := origin.New(context.Background(), cfg, nil, reg)
	if err != nil {
		tb.Fatalf("origintest: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		tb.Fatalf("origintest: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeRTMP(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, origin.ErrServerClosed) {
			tb.Errorf("origintest: ServeRTMP: %v", err)
		}
		srv.Close()
		hs.Close()
	})
	return &Packager{Server: srv, Registry: reg, RTMPAddr: ln.Addr().String(), URL: hs.URL}
}

// PublishURL is the RTMP URL to publish stream to (nginx-rtmp layout).
func (p *Packager) PublishURL(stream string) string {
	return "rtmp://" + p.RTMPAddr + "/" + p.Server.Config().RTMP.App + "/" + stream
}

// HLSURL is the stream's multivariant playlist.
func (p *Packager) HLSURL(stream string) string { return p.URL + "/hls/" + stream + ".m3u8" }

// DASHURL is the stream's MPD.
func (p *Packager) DASHURL(stream string) string { return p.URL + "/dash/" + stream + ".mpd" }

// StartDemo loops the built-in clip as stream name until the test ends.
func (p *Packager) StartDemo(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if err := p.Server.StartDemo(ctx, name); err != nil {
		tb.Fatalf("origintest: %v", err)
	}
}

// StartRTSP serves RTSP publishing (rtsp.* of the packager's config) on
// an ephemeral loopback port until the test ends, and returns the base
// URL to publish under: rtsp://127.0.0.1:PORT/APP/ (add the stream name).
func (p *Packager) StartRTSP(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("origintest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Server.ServeRTSP(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("origintest: ServeRTSP: %v", err)
		}
	})
	return "rtsp://" + ln.Addr().String() + "/" + p.Server.Config().RTMP.App + "/"
}
