// Package lifecycle is what both binaries do around their servers: take
// settings from the environment, reload the config on SIGHUP or when its
// file changes, and drain on a stop signal.
package lifecycle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// Reloader re-reads the config on SIGHUP and when the config file changes.
// A Kubernetes ConfigMap volume updates by swapping a symlink in the
// file's directory, so the directory is watched, not the file, and a
// change is recognised by the file's content. A slow poll backs the
// watch up on file systems that send no events. A rejected config is
// logged and the running one kept.
type Reloader struct {
	Log  *slog.Logger
	Path string // config file; empty: SIGHUP only
	// Reload loads the whole config again (file, environment, flags) and
	// applies it, or returns why it cannot.
	Reload func() error
	// Poll is the fallback check interval (default 10 s); Debounce gathers
	// the several events of one update (default 200 ms).
	Poll, Debounce time.Duration
	// OnResult, if set, learns each reload's outcome (for a metric).
	OnResult func(ok bool)

	last [sha256.Size]byte // content of the file the running config came from
}

// Run watches until ctx ends.
func (r *Reloader) Run(ctx context.Context, hup <-chan os.Signal) error {
	if r.Poll <= 0 {
		r.Poll = 10 * time.Second
	}
	if r.Debounce <= 0 {
		r.Debounce = 200 * time.Millisecond
	}
	r.last = r.sum()
	var events <-chan fsnotify.Event
	var werrs <-chan error
	if r.Path != "" {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("config watch: %w", err)
		}
		defer w.Close()
		if err := w.Add(filepath.Dir(r.Path)); err != nil {
			return fmt.Errorf("config watch %s: %w", filepath.Dir(r.Path), err)
		}
		events, werrs = w.Events, w.Errors
	}
	poll := time.NewTicker(r.Poll)
	defer poll.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.reload("SIGHUP")
		case <-events:
			settle.Reset(r.Debounce)
		case err := <-werrs:
			r.Log.Warn("config watch", "err", err)
		case <-settle.C:
			r.reloadIfChanged("file changed")
		case <-poll.C:
			r.reloadIfChanged("file changed (poll)")
		}
	}
}

// sum hashes the config file; a file that cannot be read hashes as empty.
func (r *Reloader) sum() [sha256.Size]byte {
	if r.Path == "" {
		return [sha256.Size]byte{}
	}
	b, _ := os.ReadFile(r.Path)
	return sha256.Sum256(b)
}

func (r *Reloader) reloadIfChanged(why string) {
	if s := r.sum(); !bytes.Equal(s[:], r.last[:]) {
		r.reload(why)
	}
}

// reload loads and applies the config. The content is remembered even
// when it is rejected, so a broken file is reported once, not at every
// poll; fixing it (or SIGHUP) tries again.
func (r *Reloader) reload(why string) {
	r.last = r.sum()
	err := r.Reload()
	if r.OnResult != nil {
		r.OnResult(err == nil)
	}
	if err != nil {
		r.Log.Error("config reload rejected; keeping the running config", "trigger", why, "path", r.Path, "err", err)
		return
	}
	r.Log.Info("config reloaded", "trigger", why, "path", r.Path)
}

// Start runs the reloader on a goroutine it owns until stop is called;
// stop waits for it. A watch that cannot be set up is logged: SIGHUP still
// reloads.
func (r *Reloader) Start(hup <-chan os.Signal) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx, hup); err != nil {
			r.Log.Error("config file watch failed; reloads stop", "err", err)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// CountReloads registers the counter NAME{result="ok|rejected"} on reg and
// returns the Reloader.OnResult that feeds it.
func CountReloads(reg prometheus.Registerer, name string) (func(ok bool), error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name,
		Help: "Config reloads by result (ok, rejected).",
	}, []string{"result"})
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	ok, rejected := c.WithLabelValues("ok"), c.WithLabelValues("rejected")
	return func(good bool) {
		if good {
			ok.Inc()
		} else {
			rejected.Inc()
		}
	}, nil
}
