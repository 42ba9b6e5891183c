package main

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
)

// reloader re-reads the config on SIGHUP and when the config file changes.
// A Kubernetes ConfigMap volume updates by swapping a symlink in the
// file's directory, so the directory is watched, not the file, and a
// change is recognised by the file's content. A slow poll backs the
// watch up on file systems that send no events. An invalid new config is
// logged and the running one kept.
type reloader struct {
	log   *slog.Logger
	path  string                     // config file; empty: SIGHUP only
	load  func() (fileConfig, error) // the whole layering: file, env, flags
	apply func(fileConfig) error
	// poll is the fallback check interval; debounce gathers the several
	// events of one update.
	poll, debounce time.Duration
	onResult       func(ok bool)

	last [sha256.Size]byte // content of the file the running config came from
}

// run watches until ctx ends.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) error {
	r.last = r.sum()
	var events <-chan fsnotify.Event
	var werrs <-chan error
	if r.path != "" {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("config watch: %w", err)
		}
		defer w.Close()
		if err := w.Add(filepath.Dir(r.path)); err != nil {
			return fmt.Errorf("config watch %s: %w", filepath.Dir(r.path), err)
		}
		events, werrs = w.Events, w.Errors
	}
	poll := time.NewTicker(r.poll)
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
			settle.Reset(r.debounce)
		case err := <-werrs:
			r.log.Warn("config watch", "err", err)
		case <-settle.C:
			r.reloadIfChanged("file changed")
		case <-poll.C:
			r.reloadIfChanged("file changed (poll)")
		}
	}
}

// sum hashes the config file; a file that cannot be read hashes as empty.
func (r *reloader) sum() [sha256.Size]byte {
	if r.path == "" {
		return [sha256.Size]byte{}
	}
	b, _ := os.ReadFile(r.path)
	return sha256.Sum256(b)
}

func (r *reloader) reloadIfChanged(why string) {
	if s := r.sum(); !bytes.Equal(s[:], r.last[:]) {
		r.reload(why)
	}
}

// reload loads and applies the config. The content is remembered even
// when it is rejected, so a broken file is reported once, not at every
// poll; fixing it (or SIGHUP) tries again.
func (r *reloader) reload(why string) {
	r.last = r.sum()
	cfg, err := r.load()
	if err == nil {
		err = r.apply(cfg)
	}
	if r.onResult != nil {
		r.onResult(err == nil)
	}
	if err != nil {
		r.log.Error("config reload rejected; keeping the running config", "trigger", why, "path", r.path, "err", err)
		return
	}
	r.log.Info("config reloaded", "trigger", why, "path", r.path)
}
