// Command edgecache is a caching reverse proxy for live HLS and DASH.
//
//	edgecache -listen :8081 -origin http://origin:8080
//	edgecache -config edgecache.yaml
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "edgecache:", err)
		os.Exit(1)
	}
}
