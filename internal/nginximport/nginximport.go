// Package nginximport translates an nginx edge config (proxy_cache in
// front of an HLS/DASH origin) into edgecache's YAML config, with comments
// saying where each value came from and why some are capped or not
// needed, and lists every directive it cannot translate with the reason.
// `edgecache import-nginx` runs it.
package nginximport

import (
	"errors"
	"fmt"
	"slices"

	"github.com/edgecache/edgecache/internal/nginxconf"
)

// ErrNoRoutes is returned when the config has no location with a
// proxy_pass the edge can take: there is nothing to make a config of.
var ErrNoRoutes = errors.New("no location with a proxy_pass to translate")

// Untranslated is a directive the edge has no equivalent for.
type Untranslated struct {
	Where     string // file:line
	Directive string // as written, without its block
	Reason    string
}

func (u Untranslated) String() string {
	return fmt.Sprintf("%s: %s: %s", u.Where, u.Directive, u.Reason)
}

// Result is a translated config.
type Result struct {
	// YAML is the edgecache config, with explanatory comments.
	YAML []byte
	// Untranslated lists, in file order, what the YAML does not carry.
	Untranslated []Untranslated
	// Open lists, in file order, the refusals among them: a deny, an
	// auth_basic, a return 403 in a location, a secure_link that could
	// not be translated, each directly or inside a block that was not
	// (restrict.go). With any, the YAML serves requests nginx refused.
	Open []Untranslated
}

// ImportFile reads the nginx config at path, with its includes, and
// translates it.
func ImportFile(path string) (*Result, error) {
	ds, err := nginxconf.ParseFile(nginxconf.OS{}, path)
	if err != nil {
		return nil, err
	}
	return Translate(ds)
}

// Translate turns parsed nginx directives into an edgecache config. The
// top level may be nginx's main context (with an http block) or the
// inside of one (a file included from http, as conf.d files are).
func Translate(ds []*nginxconf.Directive) (*Result, error) {
	t := newTranslator()
	t.prepass(ds)
	t.block(ds, &scope{}, ctxMain)
	if len(t.routes) == 0 {
		return &Result{Untranslated: sortUntranslated(t.untranslated)}, ErrNoRoutes
	}
	y, err := t.render()
	if err != nil {
		return nil, err
	}
	return &Result{YAML: y, Untranslated: sortUntranslated(t.untranslated), Open: t.restrictions(ds)}, nil
}

// sortUntranslated is the list in the order the directives were read.
func sortUntranslated(l []untranslated) []Untranslated {
	out := slices.Clone(l)
	slices.SortStableFunc(out, func(a, b untranslated) int { return a.seq - b.seq })
	res := make([]Untranslated, len(out))
	for i, u := range out {
		res[i] = u.Untranslated
	}
	return res
}
