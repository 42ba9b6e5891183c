package origin

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayers keeps the packager's arrows pointing one way (ARCHITECTURE.md):
// ingest -> media <- live <- origin, ingest knowing live only through its
// own interfaces, and media and manifest free of network and HTTP code.
// Only the packages' own non-test imports are checked.
func TestLayers(t *testing.T) {
	const mod = "github.com/edgecache/edgecache/"
	forbidden := map[string][]string{
		"media":       {"net", "net/http", "crypto/tls", mod + "origin", mod + "origin/live", mod + "origin/ingest"},
		"live":        {"net", "net/http", mod + "origin", mod + "origin/ingest"},
		"ingest":      {mod + "origin", mod + "origin/live"},
		"../manifest": {"net", "net/http"},
	}
	for dir, bad := range forbidden {
		imports := importsOf(t, dir)
		for _, b := range bad {
			if imports[b] {
				t.Errorf("%s imports %s", dir, b)
			}
		}
	}
}

// importsOf lists the imports of the non-test Go files in dir.
func importsOf(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range af.Imports {
			p, _ := strconv.Unquote(is.Path.Value)
			out[p] = true
		}
	}
	return out
}
