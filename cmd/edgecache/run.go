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
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/internal/edgeconfig"
	"github.com/edgecache/edgecache/internal/lifecycle"
	"github.com/edgecache/edgecache/proxy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// signals are the process signals run acts on besides the stop signals
// (which end its ctx). A nil channel never delivers.
type signals struct {
	hup    <-chan os.Signal // SIGHUP: reload the config
	reopen <-chan os.Signal // SIGUSR1: reopen the access log file
}

// run starts the edge and blocks until ctx ends, then shuts down. Asked
// for -version or -check-config, it prints the answer and returns at once;
// `import-nginx FILE` prints the config translated from nginx's.
func run(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer, sig signals) (err error) {
	if len(args) > 0 && args[0] == "import-nginx" {
		return importNginx(args[1:], stdout, stderr)
	}
	cfg, path, cmd, err := parseArgs(args, getenv, stderr)
	switch {
	case cmd.version:
		// Whatever the config says: -version answers even where the edge
		// could not start.
		bi, ok := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, version(bi, ok))
		return nil
	case err != nil:
		return err
	case cmd.check:
		fmt.Fprintf(stdout, "edgecache: config %s is ok\n", path)
		return nil
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.LogLevel))
	// The edge's log and the access log may share stdout: one lock keeps
	// each write, so each line, whole.
	stdout = &lockedWriter{w: stdout}
	log := newLogger(stdout, cfg.LogFormat, level)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	countReload, err := lifecycle.CountReloads(reg, "edgecache_config_reloads_total")
	if err != nil {
		return err
	}
	alog, err := accesslog.New(cfg.AccessLog, log, accesslog.Stdout(stdout), accesslog.Stderr(stderr))
	if err != nil {
		return err
	}
	// Closed after the servers have shut down (the defers below run
	// first), so the last responses' lines are written.
	defer func() {
		if cerr := alog.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgecache_access_log_dropped_total",
		Help: "Access log records dropped because the writer fell behind (the queue was full).",
	}, func() float64 { return float64(alog.Dropped()) })); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var opts []proxy.Option
	if alog.Enabled() {
		opts = append(opts, proxy.WithAccessLog(alog.Log))
	}
	p, err := proxy.New(cfg.Proxy, log, reg, opts...)
	if err != nil {
		return err
	}
	defer p.Close()
	defer reopenOn(sig.reopen, alog, log)()
	limCtx, stopLimit := context.WithCancel(ctx)
	limDone := make(chan struct{})
	go func() {
		defer close(limDone)
		memoryLimit(limCtx, log, p.Config().Cache, func() int64 { return p.Cache().Stats().InflightBytes })
	}()
	defer func() { stopLimit(); <-limDone }()

	// The running settings that a reload may change outside the proxy.
	var running atomic.Pointer[edgeconfig.File]
	running.Store(&cfg)
	rl := &lifecycle.Reloader{
		Log:  log,
		Path: path,
		Reload: func() error {
			c, _, err := loadConfig(args, getenv, io.Discard)
			if err != nil {
				return err
			}
			restart, err := p.Reload(c.Proxy)
			if err != nil {
				return err
			}
			old := running.Load()
			if c.Listen != old.Listen || c.AdminListen != old.AdminListen {
				restart = append(restart, "listen")
			}
			if c.LogFormat != old.LogFormat {
				restart = append(restart, "log_format")
			}
			if c.AccessLog != old.AccessLog {
				restart = append(restart, "access_log")
			}
			if len(restart) > 0 {
				log.Warn("config reload: these settings keep their running values until a restart", "settings", strings.Join(restart, ","))
			}
			level.Set(parseLevel(c.LogLevel))
			running.Store(&c)
			return nil
		},
		OnResult: countReload,
	}
	defer rl.Start(sig.hup)()

	lc := proxy.ListenConfig()
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
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
	srv := p.Server(errLog)
	adminSrv := &http.Server{
		Handler:           proxy.AdminHandler(reg, ready.Load, p.PurgeHandler(func() string { return running.Load().PurgeToken })),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          errLog,
	}
	errc := make(chan error, 2)
	viewers := p.Listener(ln)
	go func() { errc <- serve(srv, viewers) }()
	go func() { errc <- serve(adminSrv, adminLn) }()
	ready.Store(true)
	log.Info("edgecache listening", "listen", ln.Addr().String(), "admin", adminLn.Addr().String(),
		"routes", strings.Join(p.Routes(), ", "), "cache_bytes", int64(cfg.Proxy.Cache.MaxBytes))

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	cfg = *running.Load() // the drain settings may have been reloaded
	return lifecycle.Drain{
		Log: log, Ready: &ready, Grace: cfg.ShutdownGrace, Timeout: cfg.ShutdownTimeout,
		Shutdown: func(ctx context.Context) error {
			err := srv.Shutdown(ctx)
			// The front's connections (proxy/front.go) are not
			// net/http's: wait for them too.
			if werr := viewers.Wait(ctx); err == nil {
				err = werr
			}
			adminSrv.Shutdown(ctx)
			return err
		},
	}.Run(errc)
}

// reopenOn reopens the access log at each signal on c, on a goroutine it
// owns until stop is called.
func reopenOn(c <-chan os.Signal, alog *accesslog.Logger, log *slog.Logger) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-c:
				if err := alog.Reopen(); err != nil {
					log.Error("access log reopen (SIGUSR1)", "err", err)
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parseLevel reads a level loadConfig has already checked.
func parseLevel(s string) slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// memoryLimit keeps the Go heap close to what is live: the cache budget
// plus the bytes fills in flight hold now, plus a twentieth and 32 MiB of
// room for the collector. Without it the collector lets the heap reach
// twice the live cache before it runs; with a fixed limit under the live
// heap (a burst of fills on top of a full cache) it would run without end
// and stall every request. So the limit follows the in-flight count,
// which the in-flight budget bounds. GOMEMLIMIT in the environment wins.
// It runs until ctx ends.
func memoryLimit(ctx context.Context, log *slog.Logger, c proxy.CacheConfig, inflight func() int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	set := func() int64 {
		live := int64(c.MaxBytes) + inflight()
		limit := live + live/20 + 32<<20
		debug.SetMemoryLimit(limit)
		return limit
	}
	log.Debug("memory limit set", "bytes", set())
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
		}
	}
}

// version describes the build: the module version and, when the binary was
// built from a checkout, the VCS revision (marked when it had changes).
func version(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "edgecache (unknown version)"
	}
	s := "edgecache " + bi.Main.Version
	if bi.Main.Version == "" {
		s += "(devel)"
	}
	var rev, modified string
	for _, st := range bi.Settings {
		switch st.Key {
		case "vcs.revision":
			rev = st.Value
		case "vcs.modified":
			modified = st.Value
		}
	}
	if rev != "" {
		s += " " + rev
		if modified == "true" {
			s += " (modified)"
		}
	}
	return s
}
