package manifest

import (
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// originHosts are the hosts testMapper treats as configured origins.
var originHosts = []string{"origin.example.com", "cdn.origin.test"}

// testMapper maps an origin URL to its path and query, the way a proxy
// that mounts each origin at the root would.
func testMapper(u *url.URL) (string, bool) {
	host := strings.ToLower(u.Hostname())
	for _, h := range originHosts {
		if host == h {
			e := u.EscapedPath()
			if u.RawQuery != "" {
				e += "?" + u.RawQuery
			}
			return e, true
		}
	}
	return "", false
}

// stripOrigin is the test's own, string-only idea of what testMapper does:
// drop "scheme://host[:port]" (or "//host") of an origin URL. ok is false
// for anything else.
func stripOrigin(ref string) (string, bool) {
	rest := ""
	for _, p := range []string{"http://", "https://", "//"} {
		if len(ref) >= len(p) && strings.EqualFold(ref[:len(p)], p) {
			rest = ref[len(p):]
			break
		}
	}
	if rest == "" {
		return "", false
	}
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		return "", false
	}
	host := rest[:end]
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	for _, h := range originHosts {
		if strings.EqualFold(host, h) {
			return rest[end:], true
		}
	}
	return "", false
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// corpus lists testdata files with the given extensions, sorted.
func corpus(t testing.TB, exts ...string) []string {
	t.Helper()
	var out []string
	for _, ext := range exts {
		m, err := filepath.Glob(filepath.Join("testdata", "*"+ext))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
