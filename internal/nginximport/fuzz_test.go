package nginximport

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgecache/edgecache/internal/nginxconf"
)

// FuzzTranslate: no nginx config makes the importer panic, and every
// config it produces decodes and validates as edgecache's.
func FuzzTranslate(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.conf")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("server { location /a/ { proxy_pass http://o; proxy_set_header X-A b; add_header X-B c always; } }")
	f.Fuzz(func(t *testing.T, src string) {
		ds, err := nginxconf.Parse(nil, "f.conf", []byte(src))
		if err != nil {
			return
		}
		res, err := Translate(ds)
		if err != nil {
			return
		}
		cfg := decodeNow(t, res.YAML)
		if err := cfg.Proxy.Validate(); err != nil {
			t.Fatalf("imported config does not validate: %v\n%s", err, res.YAML)
		}
	})
}
