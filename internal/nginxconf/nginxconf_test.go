package nginxconf

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
)

// mapFS is an in-memory FS.
type mapFS map[string]string

func (m mapFS) ReadFile(name string) ([]byte, error) {
	s, ok := m[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(s), nil
}

func (m mapFS) Glob(pattern string) ([]string, error) {
	var out []string
	for name := range m {
		if ok, err := path.Match(pattern, name); err != nil {
			return nil, err
		} else if ok {
			out = append(out, name)
		}
	}
	// Sorted, as filepath.Glob's are.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out, nil
}

// dump renders directives one per line, blocks indented, with their
// places: what the table compares.
func dump(ds []*Directive) string {
	var b strings.Builder
	var rec func([]*Directive, string)
	rec = func(ds []*Directive, ind string) {
		for _, d := range ds {
			fmt.Fprintf(&b, "%s%s %s", ind, d.Where(), d.Name)
			for _, a := range d.Args {
				fmt.Fprintf(&b, " [%s]", a)
			}
			if d.HasBlock {
				b.WriteString(" {\n")
				rec(d.Block, ind+"  ")
				b.WriteString(ind + "}")
			}
			b.WriteString("\n")
		}
	}
	rec(ds, "")
	return b.String()
}

var parseCases = []struct {
	name, src, want, err string
}{
	{name: "directive", src: "listen 80;", want: "f:1 listen [80]\n"},
	{name: "block", src: "server {\n listen 80;\n}\n", want: "f:1 server {\n  f:2 listen [80]\n}\n"},
	{name: "empty block", src: "events {}", want: "f:1 events {\n}\n"},
	{name: "comments", src: "# top\nlisten 80; # tail\n#x;\n", want: "f:2 listen [80]\n"},
	{name: "hash inside a word is not a comment", src: "a b#c;", want: "f:1 a [b#c]\n"},
	{name: "single quotes", src: "sub_filter 'http://o/hls/' 'http://$host/hls/';", want: "f:1 sub_filter [http://o/hls/] [http://$host/hls/]\n"},
	{name: "double quotes with escapes", src: `log_format x "a \"b\" \t$c";`, want: "f:1 log_format [x] [a \"b\" \t$c]\n"},
	{name: "regex escapes kept", src: `location ~ \.m3u8$ {}`, want: "f:1 location [~] [\\.m3u8$] {\n}\n"},
	{name: "quoted braces and semicolons", src: `add_header X "{;}";`, want: "f:1 add_header [X] [{;}]\n"},
	{name: "variable with braces", src: "proxy_cache_key ${scheme}x$host;", want: "f:1 proxy_cache_key [${scheme}x$host]\n"},
	{name: "multi-line string counts lines", src: "log_format m '$a'\n  '$b';\nx;", want: "f:1 log_format [m] [$a] [$b]\nf:3 x\n"},
	{name: "empty quoted arg", src: `proxy_set_header Accept-Encoding "";`, want: "f:1 proxy_set_header [Accept-Encoding] []\n"},
	{name: "nested", src: "http { server { location /a/ { proxy_pass http://o; } } }", want: "f:1 http {\n  f:1 server {\n    f:1 location [/a/] {\n      f:1 proxy_pass [http://o]\n    }\n  }\n}\n"},
	{name: "include relative to the file", src: "http { include conf.d/*.conf; }", want: "f:1 http {\n  conf.d/a.conf:1 a [1]\n  conf.d/b.conf:2 b\n}\n"},
	{name: "include a missing glob is nothing", src: "include none/*.conf; x;", want: "f:1 x\n"},
	{name: "include a missing file", src: "include nope.conf;", err: "f:1: include nope.conf: file does not exist"},
	{name: "include loops stop", src: "include self.conf;", err: "nested deeper than 16"},
	{name: "unexpected close", src: "}", err: `f:1: unexpected "}"`},
	{name: "unclosed block", src: "http {\n", err: `f:2: unexpected end of file, expecting "}"`},
	{name: "missing semicolon", src: "listen 80", err: `f:1: unexpected end of file, expecting ";" or "}"`},
	{name: "lone semicolon", src: ";", err: `unexpected ";"`},
	{name: "lone brace", src: "{}", err: `unexpected "{"`},
	{name: "unterminated string", src: "a 'b;\n", err: "f:1: unterminated string"},
	{name: "junk after quote", src: "a 'b'c;", err: "after a quoted string"},
	{name: "if condition with a quoted value", src: "if ($request_method = 'OPTIONS') { return 204; }", want: "f:1 if [($request_method] [=] [OPTIONS] [)] {\n  f:1 return [204]\n}\n"},
	{name: "unterminated ${", src: "a ${b;", err: "unterminated ${"},
	{name: "deep blocks", src: strings.Repeat("a {", 70) + strings.Repeat("}", 70), err: "nested deeper than 64"},
}

var testFS = mapFS{
	"conf.d/a.conf": "a 1;",
	"conf.d/b.conf": "\nb;",
	"self.conf":     "include self.conf;",
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := Parse(testFS, "f", []byte(tc.src))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err %T, want *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(ds); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestIncludeFanOutBounded: includes are bounded in number as well as
// depth (a file including itself twice at every level would read 2^16).
func TestIncludeFanOutBounded(t *testing.T) {
	fsys := mapFS{"x.conf": strings.Repeat("include leaf.conf;", 300), "leaf.conf": "a;"}
	_, err := Parse(fsys, "x.conf", []byte(fsys["x.conf"]))
	if err == nil || !strings.Contains(err.Error(), "more than 256 files") {
		t.Fatalf("err %v", err)
	}
}

func TestString(t *testing.T) {
	ds, err := Parse(nil, "f", []byte(`add_header X-A "a b" always;`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ds[0].String(); got != `add_header X-A "a b" always` {
		t.Fatalf("got %q", got)
	}
}

// FuzzParse: no input panics, and what parses re-parses from its String
// form to the same directives (blocks rendered back).
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fsys := mapFS{"inc.conf": src} // every include reads the input itself
		ds, err := Parse(fsys, "inc.conf", []byte(src))
		if err != nil {
			return
		}
		var b strings.Builder
		var render func([]*Directive)
		render = func(ds []*Directive) {
			for _, d := range ds {
				b.WriteString(d.String())
				if d.HasBlock {
					b.WriteString(" {\n")
					render(d.Block)
					b.WriteString("}\n")
				} else {
					b.WriteString(";\n")
				}
			}
		}
		render(ds)
		again, err := Parse(nil, "inc.conf", []byte(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if x, y := strip(dump(ds)), strip(dump(again)); x != y {
			t.Fatalf("re-parse differs:\n%s\n%s", x, y)
		}
	})
}

// strip drops the places (lines and files differ after rendering).
func strip(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimLeft(l, " ")
		if _, rest, ok := strings.Cut(l, " "); ok {
			l = rest
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestStringKeepsRegexEscapes(t *testing.T) {
	for _, src := range []string{`location ~ \.ts$ {}`, `a "x\\y";`, `a "b\	c";`, `a 'it\'s';`} {
		ds, err := Parse(nil, "f", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(nil, "f", []byte(ds[0].String()+";"))
		if err != nil || again[0].Args[len(again[0].Args)-1] != ds[0].Args[len(ds[0].Args)-1] {
			t.Fatalf("%q: String %q re-reads as %v, %v", src, ds[0].String(), again, err)
		}
	}
	ds, _ := Parse(nil, "f", []byte(`location ~ \.ts$ {}`))
	if got := ds[0].String(); got != `location ~ \.ts$` {
		t.Fatalf("got %q", got)
	}
}
