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
// proxy_pass; and, unless -allow-open, when the config would serve
// requests nginx refused (a deny, an auth_basic, a return 403 in a
// location it could not translate): an edge is a security boundary, and
// a migration must not open it without being told to.
func importNginx(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgecache import-nginx", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowOpen := fs.Bool("allow-open", false, "print the config even when it would serve requests nginx refused (each refusal is listed on stderr)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: edgecache import-nginx [-allow-open] nginx.conf > edgecache.yaml\n\n"+
			"Prints the edgecache config equivalent to an nginx proxy_cache edge config\n"+
			"(includes are read relative to the file). Directives it cannot translate\n"+
			"are listed on stderr with the reason. When one of them refused requests\n"+
			"(deny, auth_basic, auth_request, internal, a return of 400 or more in a\n"+
			"location, a secure_link it cannot translate), it prints no config unless\n"+
			"-allow-open. Check the result with edgecache -check-config edgecache.yaml.\n\n")
		fs.PrintDefaults()
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
	if len(res.Open) > 0 {
		title := "The config would serve requests nginx refused:"
		if *allowOpen {
			title = "WARNING: -allow-open: the config serves requests nginx refused:"
		}
		fmt.Fprintf(stderr, "\n%s\n", title)
		for _, u := range res.Open {
			fmt.Fprintf(stderr, "  %s\n", u)
		}
		if !*allowOpen {
			return fmt.Errorf("import-nginx %s: no config printed: %d of nginx's refusals could not be translated; protect what they protected by hand (routes[].auth, docs/tokens.md), or pass -allow-open to print the config anyway", path, len(res.Open))
		}
	}
	_, err = stdout.Write(res.YAML)
	return err
}
