package nginximport

import (
	"fmt"
	"strings"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/securelink"
	"github.com/edgecache/edgecache/internal/nginxconf"
	"github.com/edgecache/edgecache/proxy"
)

// routeAuth is a route's secure_link translated into auth.
type routeAuth struct {
	link, md5 string
	notes     []string // above auth:
}

// secureLinkIf is an `if ($secure_link ...) { return N; }` block of
// nginx's documented secure_link recipe: what routes[].auth does.
type secureLinkIf struct {
	d      *nginxconf.Directive
	status string // "403" for $secure_link = "", "410" for $secure_link = "0"
}

// secureLinkCheck recognises nginx's documented checks (ngx_http_secure_link_module:
// `if ($secure_link = "") { return 403; }`, `if ($secure_link = "0") { return 410; }`;
// `!$secure_link` is the same test as `= ""`), the answers auth gives. It
// returns the status the block answers with, or "" for any other if.
func secureLinkCheck(d *nginxconf.Directive) string {
	if len(d.Block) != 1 || d.Block[0].Name != "return" || len(d.Block[0].Args) != 1 || d.Block[0].HasBlock {
		return ""
	}
	cond := strings.NewReplacer("(", " ", ")", " ").Replace(strings.Join(d.Args, " "))
	f := strings.Fields(cond)
	var value string
	switch {
	case len(f) == 1 && f[0] == "!$secure_link":
	case len(f) == 2 && f[0] == "!" && f[1] == "$secure_link":
	case len(f) == 2 && f[0] == "$secure_link" && f[1] == "=":
		// $secure_link = "": the quotes were taken by the parser.
	case len(f) == 3 && f[0] == "$secure_link" && f[1] == "=":
		value = strings.Trim(f[2], `"'`)
	default:
		return ""
	}
	want := map[string]string{"": "403", "0": "410"}[value]
	if want == "" && value != "" {
		return ""
	}
	if d.Block[0].Args[0] != want {
		return ""
	}
	return want
}

// secureLink translates the secure_link, secure_link_md5 and
// secure_link_secret a location has into the route's auth. nginx inherits
// each of them on its own from the enclosing levels
// (ngx_http_secure_link_merge_conf), and secure_link_secret excludes the
// other two. What cannot be translated leaves the route without auth,
// with a warning on stderr and above the route, and counts among the
// refusals the translation dropped (Result.Open, restrict.go), for which
// the command prints no config unless told to: never an open route
// without saying so.
func (t *translator) secureLink(r *route, sc *scope) {
	var ifs []secureLinkIf
	var chain []*scope // outermost first
	for s := sc; s != nil; s = s.parent {
		ifs = append(s.secureIfs, ifs...)
		chain = append([]*scope{s}, chain...)
	}
	// ngx_http_secure_link_merge_conf, level by level: a level's own
	// secure_link_secret stands alone; otherwise secure_link and
	// secure_link_md5 are merged each on its own, and the outer secret
	// is kept only when neither is set.
	var link, md5, secret *nginxconf.Directive
	for _, s := range chain {
		own := func(name string) *nginxconf.Directive {
			if l := s.lists[name]; len(l) > 0 {
				return l[len(l)-1]
			}
			return nil
		}
		if d := own("secure_link_secret"); d != nil {
			link, md5, secret = own("secure_link"), own("secure_link_md5"), d
			continue
		}
		if d := own("secure_link"); d != nil {
			link = d
		}
		if d := own("secure_link_md5"); d != nil {
			md5 = d
		}
		if link != nil || md5 != nil {
			secret = nil
		}
	}
	if link == nil && md5 == nil && secret == nil {
		for _, i := range ifs {
			t.untranslatable(i.d, "$secure_link without secure_link: conditionals have no equivalent")
		}
		return
	}
	open := func(reason string, ds ...*nginxconf.Directive) {
		for _, d := range ds {
			if d != nil {
				t.untranslatable(d, "WARNING: route %s gets no auth and is OPEN to every viewer: %s", r.prefix, reason)
			}
		}
		for _, i := range ifs {
			t.untranslatable(i.d, "WARNING: route %s gets no auth: the secure_link it checks is not translated", r.prefix)
		}
		r.comments = append(r.comments, fmt.Sprintf("WARNING: NOT PROTECTED. nginx checked secure_link for this location, and the importer could not translate it (%s). As written, this route serves every viewer: add an auth block (docs/tokens.md) or remove the route before going live.", reason))
	}
	if secret != nil {
		open("secure_link_secret (the hash in the path, /prefix/HASH/link) has no equivalent: the edge checks secure_link with secure_link_md5, or Common Access Tokens", secret, link, md5)
		return
	}
	if link == nil || md5 == nil {
		open("secure_link and secure_link_md5 go together: without both, nginx's $secure_link is always empty", link, md5)
		return
	}
	if len(link.Args) != 1 || len(md5.Args) != 1 {
		open("secure_link and secure_link_md5 take one expression each", link, md5)
		return
	}
	c := &auth.Config{Scheme: "secure_link", SecureLink: &auth.SecureLinkConfig{Link: link.Args[0], MD5: md5.Args[0]}}
	if _, err := securelink.Compile(securelink.Config{Link: c.SecureLink.Link, MD5: c.SecureLink.MD5}); err != nil {
		open(strings.TrimPrefix(err.Error(), "securelink: "), link, md5)
		return
	}
	if err := routeOK(proxy.Route{Auth: c}); err != nil {
		open(err.Error(), link, md5)
		return
	}
	a := &routeAuth{link: link.Args[0], md5: md5.Args[0]}
	a.notes = append(a.notes,
		fmt.Sprintf("%s (%s) + %s (%s): checked on every request of the route, before the cache, on hits as on misses: a missing or wrong hash gets 403, an expired link 410.", link.String(), link.Where(), md5.String(), md5.Where()),
		"The secret stays in md5 as nginx had it: to keep it out of this file, put $secure_link_secret in its place and add secret_env: NAME (or secret_file: PATH) beside md5.")
	has := map[string]bool{}
	for _, i := range ifs {
		has[i.status] = true
		a.notes = append(a.notes, fmt.Sprintf("%s { return %s; } (%s): what auth does.", i.d.String(), i.status, i.d.Where()))
	}
	switch {
	case !has["403"] && !has["410"]:
		a.notes = append(a.notes, "nginx had no if ($secure_link ...) check here, so it computed $secure_link and served every request: the edge enforces the link.")
	case !has["410"]:
		a.notes = append(a.notes, "nginx had no if ($secure_link = \"0\") check, so it served expired links: the edge refuses them with 410.")
	case !has["403"]:
		a.notes = append(a.notes, "nginx had no if ($secure_link = \"\") check, so it served links with a bad hash: the edge refuses them with 403.")
	}
	r.auth = a
}
