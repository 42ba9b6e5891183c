// Command edgecache is a caching reverse proxy for live HLS and DASH.
//
//	edgecache -listen :8081 -origin http://origin:8088
//	edgecache -config edgecache.yaml
//
// SIGTERM, SIGINT or SIGQUIT starts a graceful drain: /readyz fails at
// once, the edge keeps serving for the shutdown grace while load balancers
// take it out, then stops accepting and lets in-flight responses finish up
// to the shutdown timeout, and exits 0. A second signal exits at once.
//
// SIGHUP, or a change of the config file (also a ConfigMap's symlink
// swap), reloads the config without dropping a connection; an invalid one
// is logged and the running one kept.
//
// Every flag -foo-bar can also be set as EDGECACHE_FOO_BAR. Precedence:
// flag, then environment variable, then config file, then default.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, drain := context.WithCancel(context.Background())
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	// This goroutine lives as long as the process: the first signal starts
	// the drain, a second one ends the process without waiting.
	go func() {
		<-sigc
		drain()
		<-sigc
		fmt.Fprintln(os.Stderr, "edgecache: second signal, exiting without draining")
		os.Exit(1)
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, hup); err != nil {
		fmt.Fprintln(os.Stderr, "edgecache:", err)
		os.Exit(1)
	}
}
