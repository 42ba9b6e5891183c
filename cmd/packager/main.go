// Command packager is edgecache's origin: RTMP (and SRT) in, HLS and DASH
// (CMAF) out, served from RAM.
//
//	packager -rtmp-listen :1935 -http-listen :8088 [-rtsp-listen :8554] [-srt-listen :8890] [-config packager.yaml] [-demo]
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgecache/edgecache/internal/lifecycle"
	"github.com/edgecache/edgecache/origin"
)

func main() {
	ctx, hup := lifecycle.Signals("packager")
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stderr, hup); err != nil {
		fmt.Fprintln(os.Stderr, "packager:", err)
		os.Exit(1)
	}
}

// envPrefix names the environment variables: every flag -foo-bar is also
// PACKAGER_FOO_BAR.
const envPrefix = "PACKAGER_"

// options are the command line's own settings (the rest is origin.Config).
type options struct {
	configPath, demoName string
	demo                 bool
	logFormat, logLevel  string
	level                slog.Level // logLevel, parsed
	grace, drainLimit    time.Duration
}

// loadConfig layers defaults, the YAML file, environment variables and
// flags: a flag beats its PACKAGER_ variable, which beats the file.
func loadConfig(args []string, getenv func(string) (string, bool), stderr io.Writer) (origin.Config, options, error) {
	var o options
	fs := flag.NewFlagSet("packager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rtmpListen := fs.String("rtmp-listen", "", "RTMP listen address (overrides rtmp.listen; default :1935)")
	httpListen := fs.String("http-listen", "", "HTTP listen address (overrides http.listen; default :8088)")
	rtspListen := fs.String("rtsp-listen", "", "RTSP listen address for publishers, rtsp://HOST:PORT/live/NAME (overrides rtsp.listen; default: no RTSP server)")
	srtListen := fs.String("srt-listen", "", "SRT (UDP) listen address for publish:live/NAME stream ids (overrides srt.listen; default: no SRT)")
	timeline := fs.String("timeline", "", "segment timeline: session, or locked so that packagers fed the same input publish interchangeable segments (overrides segment.timeline; default session)")
	fs.StringVar(&o.configPath, "config", "", "YAML config file (see origin.Config and packager.example.yaml)")
	fs.BoolVar(&o.demo, "demo", false, "loop the built-in demo clip as a live stream")
	fs.StringVar(&o.demoName, "demo-name", "demo", "stream name of the demo")
	verbose := fs.Bool("v", false, "debug logging (same as -log-level debug)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&o.grace, "shutdown-grace", 5*time.Second, "after a stop signal, keep serving this long with /readyz failing")
	fs.DurationVar(&o.drainLimit, "shutdown-timeout", 30*time.Second, "then let in-flight responses finish for at most this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: packager [flags]\n\nEvery flag -foo-bar can also be set as %sFOO_BAR.\nPrecedence: flag, then environment, then the -config file, then the default.\n\n", envPrefix)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return origin.Config{}, o, err
	}
	if fs.NArg() > 0 {
		return origin.Config{}, o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if _, err := lifecycle.SetFromEnv(fs, envPrefix, getenv); err != nil {
		return origin.Config{}, o, err
	}
	cfg := origin.DefaultConfig()
	if o.configPath != "" {
		var err error
		if cfg, err = origin.LoadConfig(o.configPath); err != nil {
			return cfg, o, err
		}
	}
	if *rtmpListen != "" {
		cfg.RTMP.Listen = *rtmpListen
	}
	if *httpListen != "" {
		cfg.HTTP.Listen = *httpListen
	}
	if *rtspListen != "" {
		cfg.RTSP.Listen = *rtspListen
	}
	if *srtListen != "" {
		cfg.SRT.Listen = *srtListen
	}
	if *timeline != "" {
		cfg.Segment.Timeline = *timeline
	}
	if *verbose {
		o.logLevel = "debug"
	}
	if err := o.level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return cfg, o, fmt.Errorf("log level %q: want debug, info, warn or error", o.logLevel)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return cfg, o, fmt.Errorf("log format %q: want text or json", o.logFormat)
	}
	if o.grace < 0 || o.drainLimit <= 0 {
		return cfg, o, fmt.Errorf("shutdown grace must not be negative and the timeout must be positive")
	}
	return cfg, o, nil
}

// run serves until ctx is done (a stop signal) or a listener fails, then
// drains. hup delivers reload requests.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stderr io.Writer, hup <-chan os.Signal) error {
	cfg, o, err := loadConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(o.level)
	hopts := &slog.HandlerOptions{Level: level}
	log := slog.New(slog.NewTextHandler(stderr, hopts))
	if o.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(stderr, hopts))
	}
	// serveCtx runs the streams and the RTMP listeners; the drain ends it
	// after the grace, not the signal.
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	countReload, err := lifecycle.CountReloads(reg, "packager_config_reloads_total")
	if err != nil {
		return err
	}
	srv, err := origin.New(serveCtx, cfg, log, reg)
	if err != nil {
		return err
	}
	defer srv.Close()

	listeners, err := listen(cfg)
	if err != nil {
		return err
	}
	// Every listener is closed on every return path: the serve loops close
	// theirs too, and a second Close is harmless.
	defer func() {
		for _, ln := range listeners {
			_ = ln.Close()
		}
	}()
	httpLn, rtmpLns := listeners[0], listeners[1:]
	var rtspLn net.Listener
	if cfg.RTSP.Listen != "" {
		if rtspLn, err = net.Listen("tcp", cfg.RTSP.Listen); err != nil {
			return fmt.Errorf("rtsp listen: %w", err)
		}
		defer rtspLn.Close()
		log.Info("rtsp listening", "addr", rtspLn.Addr().String(), "udp_ports", cfg.RTSP.UDPPorts)
	}
	var srtLn origin.SRTListener
	if cfg.SRT.Listen != "" {
		if srtLn, err = origin.ListenSRT(cfg.SRT.Listen, cfg.SRT); err != nil {
			return err
		}
		defer srtLn.Close()
	}

	var ready atomic.Bool
	hs := &http.Server{Handler: readiness(&ready, srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
	// The serve goroutines are owned here: every return path stops them
	// (stopServing ends ServeRTMP, hs.Close ends Serve) and waits. The
	// channel holds one result per goroutine, so none blocks on it.
	var wg sync.WaitGroup
	defer func() {
		stopServing()
		_ = hs.Close()
		wg.Wait()
	}()
	errc := make(chan error, len(listeners)+1)
	for _, ln := range rtmpLns {
		wg.Go(func() { errc <- srv.ServeRTMP(serveCtx, ln) })
	}
	if rtspLn != nil {
		wg.Go(func() { errc <- srv.ServeRTSP(serveCtx, rtspLn) })
	}
	if srtLn != nil {
		wg.Go(func() { errc <- srv.ServeSRT(serveCtx, srtLn) })
		log.Info("srt listening", "srt", srtLn.Addr().String())
	}
	wg.Go(func() {
		if err := hs.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
			return
		}
		errc <- nil
	})
	log.Info("packager listening", "rtmp", rtmpLns[0].Addr().String(), "http", httpLn.Addr().String())

	if o.demo {
		if err := srv.StartDemo(serveCtx, o.demoName); err != nil {
			return err
		}
	}
	ready.Store(true)

	rl := &lifecycle.Reloader{
		Log:  log,
		Path: o.configPath,
		Reload: func() error {
			c, no, err := loadConfig(args, getenv, io.Discard)
			if err != nil {
				return err
			}
			if err := srv.Reload(c); err != nil {
				return err
			}
			level.Set(no.level)
			return nil
		},
		OnResult: countReload,
	}
	defer rl.Start(hup)()

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	return lifecycle.Drain{
		Log: log, Ready: &ready, Grace: o.grace, Timeout: o.drainLimit,
		Shutdown: func(ctx context.Context) error {
			// Stop ingest and accepting; held playlist and part requests
			// finish (or time out) within the limit.
			stopServing()
			return hs.Shutdown(ctx)
		},
	}.Run(errc)
}

// listen opens the HTTP listener, then the RTMP one and, when configured,
// the RTMPS one. On error it closes what it opened.
func listen(cfg origin.Config) (lns []net.Listener, err error) {
	defer func() {
		if err != nil {
			for _, ln := range lns {
				_ = ln.Close()
			}
			lns = nil
		}
	}()
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return lns, fmt.Errorf("http listen: %w", err)
	}
	lns = append(lns, httpLn)
	rtmpLn, err := net.Listen("tcp", cfg.RTMP.Listen)
	if err != nil {
		return lns, fmt.Errorf("rtmp listen: %w", err)
	}
	lns = append(lns, rtmpLn)
	if t := cfg.RTMP.TLS; t.Enabled() {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return lns, fmt.Errorf("rtmps certificate: %w", err)
		}
		ln, err := net.Listen("tcp", t.Listen)
		if err != nil {
			return lns, fmt.Errorf("rtmps listen: %w", err)
		}
		lns = append(lns, tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}))
	}
	return lns, nil
}

// readiness fails /readyz while the packager drains, whatever the server
// would say.
func readiness(ready *atomic.Bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !ready.Load() {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}
