package nginximport

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/internal/edgeconfig"
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

// decodeNow decodes an imported config with edgecache's own decoder, as
// `edgecache -config` would: every field the importer writes must exist,
// and what start-up builds from it (the access log's format, each route's
// auth checker) must build.
func decodeNow(t *testing.T, yml []byte) edgeconfig.File {
	t.Helper()
	cfg := edgeconfig.Default()
	if err := edgeconfig.Decode(yml, &cfg); err != nil {
		t.Fatalf("imported config does not decode: %v\n%s", err, yml)
	}
	if err := cfg.AccessLog.Validate(); err != nil {
		t.Fatalf("imported access_log does not start: %v\n%s", err, yml)
	}
	for _, r := range cfg.Proxy.Routes {
		if r.Auth == nil {
			continue
		}
		if _, err := auth.New(*r.Auth, auth.Deps{}); err != nil {
			t.Fatalf("route %s: imported auth does not start: %v\n%s", r.Prefix, err, yml)
		}
	}
	return cfg
}
