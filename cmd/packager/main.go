// Command packager is edgecache's origin: RTMP in, HLS and DASH (CMAF)
// out, served from RAM.
//
//	packager -rtmp-listen :1935 -http-listen :8088 [-config packager.yaml] [-demo]
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgecache/edgecache/origin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "packager:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done (a signal) or a listener fails.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("packager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rtmpListen := fs.String("rtmp-listen", "", "RTMP listen address (overrides rtmp.listen; default :1935)")
	httpListen := fs.String("http-listen", "", "HTTP listen address (overrides http.listen; default :8088)")
	configPath := fs.String("config", "", "YAML config file (see origin.Config)")
	demo := fs.Bool("demo", false, "loop the built-in demo clip as a live stream")
	demoName := fs.String("demo-name", "demo", "stream name of the demo")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}

	cfg := origin.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = origin.LoadConfig(*configPath); err != nil {
			return err
		}
	}
	if *rtmpListen != "" {
		cfg.RTMP.Listen = *rtmpListen
	}
	if *httpListen != "" {
		cfg.HTTP.Listen = *httpListen
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := origin.New(ctx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer srv.Close()

	rtmpLn, err := net.Listen("tcp", cfg.RTMP.Listen)
	if err != nil {
		return fmt.Errorf("rtmp listen: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		_ = rtmpLn.Close()
		return fmt.Errorf("http listen: %w", err)
	}
	listeners := []net.Listener{rtmpLn}
	if t := cfg.RTMP.TLS; t.Enabled() {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return fmt.Errorf("rtmps certificate: %w", err)
		}
		ln, err := net.Listen("tcp", t.Listen)
		if err != nil {
			return fmt.Errorf("rtmps listen: %w", err)
		}
		listeners = append(listeners, tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}))
	}

	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, len(listeners)+1)
	for _, ln := range listeners {
		go func() { errc <- srv.ServeRTMP(ctx, ln) }()
	}
	go func() {
		if err := hs.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			return
		}
		errc <- nil
	}()
	log.Info("packager listening", "rtmp", rtmpLn.Addr().String(), "http", httpLn.Addr().String())

	if *demo {
		if err := srv.StartDemo(ctx, *demoName); err != nil {
			return err
		}
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	log.Info("shutting down")
	// A fresh context: the signal one is already cancelled.
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelShutdown()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("http shutdown: %w", err))
	}
	srv.Close()
	return runErr
}
