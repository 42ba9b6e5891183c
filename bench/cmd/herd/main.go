// Command herd releases N clients at once on one uncached object, each on
// its own pre-opened connection, and reports how many origin fetches the
// edge made for them, their TTFB and completion times, and whether every
// body was identical.
//
//	herd -n 200 -metrics http://127.0.0.1:9091/metrics http://127.0.0.1:8081/hls/demo/seg_42.m4s
//	herd -n 500 -origin-count-url http://127.0.0.1:8088/count -format json URL
//
// It exits non-zero only when the herd cannot be set up, never because of
// what it measured.
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
		fmt.Fprintln(os.Stderr, "herd:", err)
		os.Exit(exitCode(err))
	}
}
