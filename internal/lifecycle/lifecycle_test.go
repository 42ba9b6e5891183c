package lifecycle

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestSetFromEnv(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a := fs.String("cache-size", "1", "")
	b := fs.String("listen", "1", "")
	c := fs.Bool("demo", false, "")
	if err := fs.Parse([]string{"-listen", "flag"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"X_CACHE_SIZE": "env", "X_LISTEN": "env", "X_DEMO": "true"}
	set, err := SetFromEnv(fs, "X_", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if *a != "env" || *b != "flag" || !*c || !set["cache-size"] || !set["listen"] || !set["demo"] {
		t.Fatalf("cache-size %q listen %q demo %v set %v", *a, *b, *c, set)
	}
	fs2 := flag.NewFlagSet("y", flag.ContinueOnError)
	fs2.SetOutput(io.Discard)
	fs2.Duration("grace", time.Second, "")
	if _, err := SetFromEnv(fs2, "Y_", func(k string) (string, bool) { return "soon", k == "Y_GRACE" }); err == nil {
		t.Fatal("a bad duration in Y_GRACE was accepted")
	}
}

// TestReloader: a changed file reloads once; a rejected one is reported
// once, not at every poll; SIGHUP reloads whatever the file holds.
func TestReloader(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte("a"), 0o644)
	var ok, bad atomic.Int32
	reject := atomic.Bool{}
	r := &Reloader{
		Log:      slog.New(slog.DiscardHandler),
		Path:     path,
		Poll:     50 * time.Millisecond,
		Debounce: 20 * time.Millisecond,
		Reload: func() error {
			if reject.Load() {
				return errors.New("no")
			}
			return nil
		},
		OnResult: func(good bool) {
			if good {
				ok.Add(1)
			} else {
				bad.Add(1)
			}
		},
	}
	hup := runReloader(t, r)
	waitFor := func(what string, f func() bool) {
		t.Helper()
		waitUntil(t, what, f, func() string { return fmt.Sprintf("ok %d, rejected %d", ok.Load(), bad.Load()) })
	}
	// Files are replaced whole, as a ConfigMap update does: an in-place
	// write shows the watcher an empty file first, and on a busy machine
	// the debounce need not fold the two, which is two different files.
	replace := func(content string) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	// A first SIGHUP, answered by its reload, shows Run has read the file
	// and set up its watch: a change made before that would be taken for
	// the file Run started with.
	hup <- syscall.SIGHUP
	waitFor("first SIGHUP", func() bool { return ok.Load() == 1 })
	replace("b")
	waitFor("change", func() bool { return ok.Load() == 2 })
	reject.Store(true)
	replace("c")
	waitFor("rejected change", func() bool { return bad.Load() >= 1 })
	// Time for several polls. On a slow machine fewer happen, which can
	// hide a retry but never fail a correct Reloader.
	time.Sleep(300 * time.Millisecond)
	if bad.Load() != 1 || ok.Load() != 2 {
		t.Fatalf("a rejected file was retried at every poll: ok %d, rejected %d", ok.Load(), bad.Load())
	}
	reject.Store(false)
	hup <- syscall.SIGHUP
	waitFor("SIGHUP", func() bool { return ok.Load() == 3 })
}

// TestReloaderWatch: a ConfigMap-style update (the ..data symlink swapped
// for one to a new version) reloads through the directory watch alone. The
// poll is an hour, so no wait for the reload can be taken for a working
// watch by a slow machine, and none needs a bound but a failsafe.
func TestReloaderWatch(t *testing.T) {
	dir := t.TempDir()
	version := func(n int, content string) {
		t.Helper()
		v := filepath.Join(dir, "..v"+strconv.Itoa(n))
		if err := os.Mkdir(v, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v, "c.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(filepath.Base(v), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version(1, "a")
	path := filepath.Join(dir, "c.yaml")
	if err := os.Symlink(filepath.Join("..data", "c.yaml"), path); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	r := &Reloader{
		Log:      slog.New(slog.DiscardHandler),
		Path:     path,
		Poll:     time.Hour,
		Reload:   func() error { return nil },
		OnResult: func(good bool) { ok.Add(1) },
	}
	hup := runReloader(t, r)
	waitFor := func(what string, n int32) {
		t.Helper()
		waitUntil(t, what, func() bool { return ok.Load() >= n },
			func() string { return fmt.Sprintf("%d reloads (poll %v)", ok.Load(), r.Poll) })
	}
	// The SIGHUP's reload shows the watch is set up.
	hup <- syscall.SIGHUP
	waitFor("SIGHUP", 1)
	version(2, "b")
	waitFor("ConfigMap update", 2)
}

// liveness bounds a wait for something that happens promptly unless it is
// broken: a failsafe, not a speed, generous for a loaded CI machine.
const liveness = 30 * time.Second

// runReloader runs r until the test is over (then stops it and fails the
// test on its error) and returns the channel its signals come on.
func runReloader(t *testing.T, r *Reloader) chan<- os.Signal {
	t.Helper()
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, hup) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return hup
}

// waitUntil polls cond until it holds; past the liveness bound it fails
// the test with what and detail's account of the state.
func waitUntil(t *testing.T, what string, cond func() bool, detail func() string) {
	t.Helper()
	for deadline := time.Now().Add(liveness); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen in %v: %s", what, liveness, detail())
		}
	}
}
