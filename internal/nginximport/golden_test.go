package nginximport

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/internal/edgeconfig"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files testdata/*.yaml and *.stderr")

// TestGolden imports every testdata/*.conf and compares the YAML with
// NAME.yaml and the untranslated list (and any error) with NAME.stderr.
// Every YAML produced must decode and validate as edgecache's config.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata", err)
	}
	for _, conf := range files {
		name := strings.TrimSuffix(conf, ".conf")
		t.Run(filepath.Base(name), func(t *testing.T) {
			res, err := ImportFile(conf)
			var yml []byte
			var stderr strings.Builder
			if res != nil {
				yml = res.YAML
				for _, u := range res.Untranslated {
					stderr.WriteString(u.String() + "\n")
				}
			}
			if err != nil {
				stderr.WriteString("error: " + err.Error() + "\n")
			}
			check(t, name+".yaml", yml)
			check(t, name+".stderr", []byte(stderr.String()))
			if err == nil {
				cfg := decodeNow(t, yml)
				if err := cfg.Proxy.Validate(); err != nil {
					t.Fatalf("imported config does not validate: %v", err)
				}
				// Stable: a second import gives the same bytes.
				again, err := ImportFile(conf)
				if err != nil || string(again.YAML) != string(yml) {
					t.Fatalf("second import differs (%v)", err)
				}
			}
		})
	}
}

func check(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			os.Remove(path)
			return
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run go test -update):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// pendingFields are fields the importer writes that the lead is adding to
// edgeconfig concurrently (issue 14). Until they land, decodeNow drops
// them, one by one, and logs it; once they exist nothing is dropped.
var pendingFields = map[string]bool{
	"response_headers": true, "origin_host": true, "cors": true,
	"access_log": true, "trusted_proxies": true, "purge_token": true,
}

// decodeNow decodes an imported config with edgeconfig.Decode, dropping
// only fields the config does not know yet and the importer targets.
func decodeNow(t *testing.T, yml []byte) edgeconfig.File {
	t.Helper()
	for range 100 {
		cfg := edgeconfig.Default()
		err := edgeconfig.Decode(yml, &cfg)
		if err == nil {
			return cfg
		}
		var uf *edgeconfig.UnknownFieldError
		if !errors.As(err, &uf) || !pendingFields[uf.Field] {
			t.Fatalf("imported config does not decode: %v\n%s", err, yml)
		}
		t.Logf("edgeconfig has no %s yet: dropped from %s for the decode", uf.Field, uf.Path)
		yml = dropKeyAt(t, yml, uf.Line)
	}
	t.Fatal("too many unknown fields")
	return edgeconfig.File{}
}

// dropKeyAt removes the mapping key on line from the YAML.
func dropKeyAt(t *testing.T, yml []byte, line int) []byte {
	var doc yaml.Node
	if err := yaml.Unmarshal(yml, &doc); err != nil {
		t.Fatal(err)
	}
	var rec func(n *yaml.Node) bool
	rec = func(n *yaml.Node) bool {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Line == line {
					n.Content = append(n.Content[:i], n.Content[i+2:]...)
					return true
				}
			}
		}
		for _, c := range n.Content {
			if rec(c) {
				return true
			}
		}
		return false
	}
	if !rec(&doc) {
		t.Fatalf("no key on line %d", line)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
