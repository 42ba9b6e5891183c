package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// run starts the edge and blocks until ctx ends, then shuts down.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := loadConfig(args, os.Stderr)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.LogFormat, cfg.LogLevel)
	setMemoryLimit(log, int64(cfg.Proxy.Cache.MaxBytes))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := proxy.New(cfg.Proxy, log, reg)
	if err != nil {
		return err
	}
	defer p.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("admin listen: %w", err)
	}
	var ready atomic.Bool
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: cfg.Proxy.Client.ReadHeaderTimeout,
		IdleTimeout:       cfg.Proxy.Client.IdleTimeout,
		MaxHeaderBytes:    int(cfg.Proxy.Client.MaxHeaderBytes),
		ErrorLog:          errLog,
	}
	adminSrv := &http.Server{
		Handler:           proxy.AdminHandler(reg, ready.Load),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}
	errc := make(chan error, 2)
	go func() { errc <- serve(srv, ln) }()
	go func() { errc <- serve(adminSrv, adminLn) }()
	ready.Store(true)
	log.Info("edgecache listening", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(),
		"routes", strings.Join(p.Routes(), ", "), "cache_bytes", int64(cfg.Proxy.Cache.MaxBytes))

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	// Drain: fail readiness at once, keep serving through the grace (the
	// pod leaves the Service endpoints only as fast as the controller and
	// the ingress notice), then stop accepting and let in-flight responses
	// finish. A fresh context: the one that ended is what told us to stop.
	ready.Store(false)
	log.Info("draining", "grace", cfg.ShutdownGrace, "timeout", cfg.ShutdownTimeout)
	select {
	case <-time.After(cfg.ShutdownGrace):
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	adminSrv.Shutdown(sctx)
	if err != nil {
		return fmt.Errorf("drain: in-flight responses still running after %v: %w", cfg.ShutdownTimeout, err)
	}
	log.Info("drained")
	return nil
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setMemoryLimit keeps the Go heap close to the cache budget. Without it
// the collector lets the heap reach twice the live cache before it runs;
// with it, RSS stays near the budget plus a small base. GOMEMLIMIT in the
// environment wins.
func setMemoryLimit(log *slog.Logger, cacheBytes int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	// The live heap is the cache plus fills in flight; a twentieth of the
	// budget and 32 MiB leave the collector room without letting garbage
	// double the footprint.
	limit := cacheBytes + cacheBytes/20 + 32<<20
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
}
