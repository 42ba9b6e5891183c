// Command viewers simulates live HLS/DASH viewers against an edge on this
// machine and reports startup time, rebuffering, TTFB, playlist
// staleness and live latency.
//
//	viewers -n 200 -ramp 30s -duration 2m http://127.0.0.1:8081/hls/demo.m3u8
//	viewers -n 500 -flash -duration 1m -format json http://127.0.0.1:8081/dash/demo.mpd
//
// It exits non-zero only when the run cannot start (bad flags, a target
// that is not loopback, a stream it cannot read), never because of what
// it measured.
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
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "viewers:", err)
		os.Exit(exitCode(err))
	}
}
