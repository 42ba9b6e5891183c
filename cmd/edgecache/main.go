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
	"fmt"
	"os"

	"github.com/edgecache/edgecache/internal/lifecycle"
)

func main() {
	ctx, hup := lifecycle.Signals("edgecache")
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, hup); err != nil {
		fmt.Fprintln(os.Stderr, "edgecache:", err)
		os.Exit(1)
	}
}
