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
// SIGUSR1 reopens the access log file (for logrotate, as nginx).
//
// SIGHUP, or a change of the config file (also a ConfigMap's symlink
// swap), reloads the config without dropping a connection; an invalid one
// is logged and the running one kept.
//
// Every flag -foo-bar but -version and -check-config can also be set as
// EDGECACHE_FOO_BAR. Precedence: flag, then environment variable, then
// config file, then default.
//
//	edgecache -check-config edgecache.yaml
//
// checks a config file as a start would and exits 0, or 1 naming the file
// and what is wrong (like nginx -t).
//
//	edgecache import-nginx nginx.conf > edgecache.yaml
//
// prints the config equivalent to an nginx proxy_cache edge config and
// lists on stderr what it cannot translate.
//
//	edgecache token sign -scheme cat|secure_link ...
//
// mints a Common Access Token or an nginx secure_link URL (docs/tokens.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/edgecache/edgecache/internal/lifecycle"
)

func main() {
	ctx, hup := lifecycle.Signals("edgecache")
	os.Exit(realMain(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr, signals{hup: hup, reopen: lifecycle.ReopenSignal()}))
}

// realMain runs the command and returns its exit status: 0 after a clean
// shutdown, -h, -version or a config that checks out; 1 otherwise.
func realMain(ctx context.Context, args []string, getenv func(string) (string, bool), stdout, stderr io.Writer, sig signals) int {
	if len(args) > 0 && args[0] == "token" {
		return tokenMain(args[1:], getenv, stdout, stderr)
	}
	err := run(ctx, args, getenv, stdout, stderr, sig)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "edgecache:", err)
	return 1
}
