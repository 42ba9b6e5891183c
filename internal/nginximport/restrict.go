package nginximport

import (
	"fmt"
	"strconv"

	"github.com/edgecache/edgecache/internal/nginxconf"
)

// Access restrictions. A directive the importer cannot translate is
// usually only a setting lost; one that refuses requests is more: dropping
// it makes the edge serve what nginx refused. `location ~* \.key$ {
// return 403; }` kept HLS keys from going out through the edge; imported
// without it, the route of / fetches and caches them for anyone. So the
// importer finds every refusal it dropped (restrictions) and the command
// prints no config while there is one, unless told to (-allow-open).

// refusal reports why d, a directive without a block found in a location
// or a conditional (inLocation) or at any level, refuses requests in
// nginx; "" when it does not.
func refusal(d *nginxconf.Directive, inLocation bool) string {
	switch d.Name {
	case "deny":
		return "nginx refused these clients"
	case "auth_basic", "auth_request", "auth_jwt":
		if arg(d, 0) != "off" {
			return "nginx asked these requests for credentials"
		}
	case "internal":
		return "nginx served this location to internal redirects only"
	case "secure_link", "secure_link_md5", "secure_link_secret":
		return "nginx checked a signed link here"
	case "return":
		// A refusal in a location or a conditional: a status of 400 or
		// more, or nginx's 444 (close without an answer). A server's own
		// return (a default server's 444 for unknown Hosts) is not one:
		// the edge is one server for every Host.
		if code, err := strconv.Atoi(arg(d, 0)); err == nil && code >= 400 && inLocation {
			return fmt.Sprintf("nginx answered %d here", code)
		}
	}
	return ""
}

// restrictions walks the config and returns every refusal the translation
// dropped: a refusing directive that was listed as untranslated, or sits
// in a block that was (a regex location, a conditional, limit_except).
func (t *translator) restrictions(ds []*nginxconf.Directive) []Untranslated {
	var out []untranslated
	// within is the innermost location, conditional or limit_except
	// around ds: nil outside one.
	var walk func(ds []*nginxconf.Directive, within *nginxconf.Directive, dropped bool)
	walk = func(ds []*nginxconf.Directive, within *nginxconf.Directive, dropped bool) {
		for _, d := range ds {
			lost := dropped || t.dropped[d]
			if d.HasBlock {
				in := within
				if d.Name == "location" || d.Name == "if" || d.Name == "limit_except" {
					in = d
				}
				walk(d.Block, in, lost)
				continue
			}
			if !lost {
				continue
			}
			if within == nil && inheritedAuth(d.Name) && everyLocationSets(ds, d.Name) {
				continue // every location has its own, reported if it refuses
			}
			if why := refusal(d, within != nil); why != "" {
				if within != nil {
					why += " (in " + within.String() + ")"
				}
				out = append(out, untranslated{Untranslated{Where: d.Where(), Directive: d.String(),
					Reason: why + ", and the imported config serves these requests"}, t.seq[d]})
			}
		}
	}
	walk(ds, nil, false)
	return sortUntranslated(out)
}

// inheritedAuth reports whether name is a refusal a location takes from
// the levels above it unless it sets its own (nginx's inheritance of a
// directive's value).
func inheritedAuth(name string) bool {
	switch name {
	case "auth_basic", "auth_request", "auth_jwt":
		return true
	}
	return false
}

// everyLocationSets reports whether every location that ds, an http or
// server block's directives, holds sets name itself, so that no request
// the imported routes serve takes the value set beside them. A server
// without a location does not count as covered; requests no location
// matches get 404 from the edge (it has no route for them).
func everyLocationSets(ds []*nginxconf.Directive, name string) bool {
	found := false
	for _, d := range ds {
		switch {
		case !d.HasBlock:
		case d.Name == "server":
			if !setsItself(d.Block, name) && !everyLocationSets(d.Block, name) {
				return false
			}
			found = true
		case d.Name == "location":
			if !setsItself(d.Block, name) {
				return false
			}
			found = true
		}
	}
	return found
}

// setsItself reports whether a block's own directives (not its nested
// blocks') include name.
func setsItself(ds []*nginxconf.Directive, name string) bool {
	for _, d := range ds {
		if !d.HasBlock && d.Name == name {
			return true
		}
	}
	return false
}
