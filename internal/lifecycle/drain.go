package lifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// Signals turns the process's signals into the lifecycle's events: the
// returned context ends at the first SIGTERM, SIGINT or SIGQUIT (start
// draining); a second one exits the process at once with status 1; SIGHUP
// arrives on hup (reload). Call it once, from main: the goroutine it starts
// lives as long as the process.
func Signals(name string) (drain context.Context, hup <-chan os.Signal) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan os.Signal, 2)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	h := make(chan os.Signal, 1)
	signal.Notify(h, syscall.SIGHUP)
	go func() {
		<-stop
		cancel()
		<-stop
		fmt.Fprintln(os.Stderr, name+": second signal, exiting without draining")
		os.Exit(1)
	}()
	return ctx, h
}

// ReopenSignal delivers SIGUSR1, nginx's and logrotate's "reopen your log
// files". Call it once, from main.
func ReopenSignal() <-chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	return c
}

// Drain is the stop sequence of a server behind a load balancer. Readiness
// fails at once; the server keeps serving for Grace, while the endpoints
// controller and the ingress take it out (they learn of the stop no faster
// than the pod gets its SIGTERM); then Shutdown stops accepting and waits
// up to Timeout for in-flight responses.
type Drain struct {
	Log            *slog.Logger
	Ready          *atomic.Bool
	Grace, Timeout time.Duration
	// Shutdown stops accepting and returns when in-flight work is done or
	// ctx ends.
	Shutdown func(ctx context.Context) error
}

// Run drains. errc reports a server that failed during the grace.
func (d Drain) Run(errc <-chan error) error {
	d.Ready.Store(false)
	d.Log.Info("draining", "grace", d.Grace, "timeout", d.Timeout)
	grace := time.NewTimer(d.Grace)
	defer grace.Stop()
	select {
	case <-grace.C:
	case err := <-errc:
		if err != nil {
			return err
		}
	}
	// A fresh context: the one that ended is what told us to stop.
	ctx, cancel := context.WithTimeout(context.Background(), d.Timeout)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		return fmt.Errorf("drain: in-flight work still running after %v: %w", d.Timeout, err)
	}
	d.Log.Info("drained")
	return nil
}
