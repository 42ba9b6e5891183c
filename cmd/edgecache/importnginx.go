package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/edgecache/edgecache/internal/nginximport"
)

// importNginx is `edgecache import-nginx FILE`: the equivalent config on
// stdout, one line per directive it cannot translate on stderr
// (file:line: directive: reason). It fails when it produced no config:
// the file is unreadable, is not nginx syntax, or has no location with a
// proxy_pass.
func importNginx(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgecache import-nginx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: edgecache import-nginx nginx.conf > edgecache.yaml\n\n"+
			"Prints the edgecache config equivalent to an nginx proxy_cache edge config\n"+
			"(includes are read relative to the file). Directives it cannot translate\n"+
			"are listed on stderr with the reason. Check the result with\n"+
			"edgecache -check-config edgecache.yaml.\n")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("import-nginx: give one nginx config file")
	}
	path := fs.Arg(0)
	res, err := nginximport.ImportFile(path)
	if res != nil {
		for _, u := range res.Untranslated {
			fmt.Fprintln(stderr, u)
		}
	}
	if err != nil {
		return fmt.Errorf("import-nginx %s: %w", path, err)
	}
	_, err = stdout.Write(res.YAML)
	return err
}
