package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testToken = "CAT=2D3RhEOhAQWhBEJrMVg3pgFnZXlldmlubgQ"

func propagateFile(path string, data []byte, q QueryFunc) ([]byte, int, error) {
	if strings.HasSuffix(strings.TrimSuffix(path, ".golden"), ".mpd") {
		return PropagateDASH(data, q)
	}
	return PropagateHLS(data, q)
}

// The corpus after RewriteHLS/RewriteDASH (the *.golden files: origin
// URLs made root-relative, as the proxy holds them) with a token
// propagated, in testdata/propagate/.
func TestPropagateGolden(t *testing.T) {
	files := corpus(t, ".m3u8.golden", ".mpd.golden")
	if len(files) < 25 {
		t.Fatalf("corpus has %d files", len(files))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".golden")
		t.Run(name, func(t *testing.T) {
			in := readFile(t, path)
			out, n, err := propagateFile(path, in, ConstQuery(testToken))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "propagate", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (go test ./manifest -update to accept)\ngot:\n%s", golden, out)
			}
			if got := bytes.Count(out, []byte("CAT=")) - bytes.Count(in, []byte("CAT=")); got != n {
				t.Errorf("n=%d but %d tokens added", n, got)
			}
			// Stable: a second pass adds nothing.
			again, n2, err := propagateFile(path, out, ConstQuery(testToken))
			if err != nil || n2 != 0 || !bytes.Equal(again, out) {
				t.Errorf("second pass: n=%d err=%v", n2, err)
			}
			if !strings.HasSuffix(name, ".mpd") {
				if bytes.Count(out, []byte("\n")) != bytes.Count(in, []byte("\n")) {
					t.Error("line count changed")
				}
				if _, err := ParseHLS(in); err == nil {
					if _, err := ParseHLS(out); err != nil {
						t.Errorf("output does not parse: %v", err)
					}
				}
			} else if _, err := ParseDASH(in); err == nil {
				if _, err := ParseDASH(out); err != nil {
					t.Errorf("output does not parse: %v", err)
				}
			}
		})
	}
}

func TestPropagateHLSCases(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"uri line", "#EXTM3U\n#EXTINF:2,\nseg1.ts\n", "#EXTM3U\n#EXTINF:2,\nseg1.ts?" + testToken + "\n"},
		{"merge query", "#EXTM3U\nseg1.ts?a=1\n", "#EXTM3U\nseg1.ts?a=1&" + testToken + "\n"},
		{"trailing ?", "#EXTM3U\nseg1.ts?\n", "#EXTM3U\nseg1.ts?" + testToken + "\n"},
		{"trailing &", "#EXTM3U\nseg1.ts?a=1&\n", "#EXTM3U\nseg1.ts?a=1&" + testToken + "\n"},
		{"fragment", "#EXTM3U\nseg1.ts#t=1\n", "#EXTM3U\nseg1.ts?" + testToken + "#t=1\n"},
		{"already there", "#EXTM3U\nseg1.ts?CAT=old\n", "#EXTM3U\nseg1.ts?CAT=old\n"},
		{"root-relative", "#EXTM3U\n/live/seg1.ts\n", "#EXTM3U\n/live/seg1.ts?" + testToken + "\n"},
		{"absolute stays", "#EXTM3U\nhttps://ads.example/seg1.ts\n", "#EXTM3U\nhttps://ads.example/seg1.ts\n"},
		{"network path stays", "#EXTM3U\n//ads.example/seg1.ts\n", "#EXTM3U\n//ads.example/seg1.ts\n"},
		{"variable stays", "#EXTM3U\n{$base}/seg1.ts\n", "#EXTM3U\n{$base}/seg1.ts\n"},
		{"map", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\",BYTERANGE=\"10@0\"\n", "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4?" + testToken + "\",BYTERANGE=\"10@0\"\n"},
		{"relative key", "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin\"\n", "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"key.bin?" + testToken + "\"\n"},
		{"skd key stays", "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://k1\"\n", "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://k1\"\n"},
		{"data uri stays", "#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"data:text/plain,hi\"\n", "#EXTM3U\n#EXT-X-SESSION-DATA:DATA-ID=\"x\",URI=\"data:text/plain,hi\"\n"},
		{"part hint report", "#EXTM3U\n#EXT-X-PART:DURATION=1,URI=\"p1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p2.m4s\"\n#EXT-X-RENDITION-REPORT:URI=\"../b/i.m3u8\",LAST-MSN=1\n",
			"#EXTM3U\n#EXT-X-PART:DURATION=1,URI=\"p1.m4s?" + testToken + "\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p2.m4s?" + testToken + "\"\n#EXT-X-RENDITION-REPORT:URI=\"../b/i.m3u8?" + testToken + "\",LAST-MSN=1\n"},
		{"crlf kept", "#EXTM3U\r\nseg1.ts\r\n", "#EXTM3U\r\nseg1.ts?" + testToken + "\r\n"},
		{"comment untouched", "#EXTM3U\n# seg1.ts\n", "#EXTM3U\n# seg1.ts\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := PropagateHLS([]byte(tc.in), ConstQuery(testToken))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", out, tc.want)
			}
		})
	}
	if _, _, err := PropagateHLS([]byte("#EXTM3U\nseg.ts\n"), ConstQuery("a=\"b\" c")); !errors.Is(err, ErrBadMapping) {
		t.Fatalf("bad query: %v", err)
	}
	if _, _, err := PropagateHLS([]byte("nope"), ConstQuery("a=b")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("not a playlist: %v", err)
	}
}

func TestPropagateDASHCases(t *testing.T) {
	const head = `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">`
	cases := []struct {
		name, in, want string
	}{
		{"template", head + `<Period><AdaptationSet><SegmentTemplate media="v/$Number%05d$.m4s" initialization="v/init.mp4"/></AdaptationSet></Period></MPD>`,
			head + `<Period><AdaptationSet><SegmentTemplate media="v/$Number%05d$.m4s?CAT=t&amp;x=1" initialization="v/init.mp4?CAT=t&amp;x=1"/></AdaptationSet></Period></MPD>`},
		{"directory base stays", head + `<BaseURL>/live/</BaseURL><Period/></MPD>`, head + `<BaseURL>/live/</BaseURL><Period/></MPD>`},
		{"file base", head + `<Period><BaseURL>video.mp4</BaseURL></Period></MPD>`, head + `<Period><BaseURL>video.mp4?CAT=t&amp;x=1</BaseURL></Period></MPD>`},
		{"location", head + `<Location>/live/m.mpd</Location></MPD>`, head + `<Location>/live/m.mpd?CAT=t&amp;x=1</Location></MPD>`},
		{"segment url", head + `<Period><SegmentList><SegmentURL media="s1.m4s"/></SegmentList></Period></MPD>`, head + `<Period><SegmentList><SegmentURL media="s1.m4s?CAT=t&amp;x=1"/></SegmentList></Period></MPD>`},
		{"absolute base: nothing", head + `<BaseURL>https://other.example/</BaseURL><Period><SegmentTemplate media="$Number$.m4s"/></Period></MPD>`,
			head + `<BaseURL>https://other.example/</BaseURL><Period><SegmentTemplate media="$Number$.m4s"/></Period></MPD>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := PropagateDASH([]byte(tc.in), ConstQuery("CAT=t&x=1"))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", out, tc.want)
			}
		})
	}
	tmpl := head + `<Period><SegmentTemplate media="$Number$.m4s"/></Period></MPD>`
	if _, _, err := PropagateDASH([]byte(tmpl), ConstQuery("a=$b")); !errors.Is(err, ErrBadMapping) {
		t.Fatalf("$ in a template query: %v", err)
	}
}

func TestPropagateNothingNoCopy(t *testing.T) {
	in := []byte("#EXTM3U\nhttps://x.example/a.ts\n")
	out, n, err := PropagateHLS(in, ConstQuery(testToken))
	if err != nil || n != 0 || &out[0] != &in[0] {
		t.Fatalf("n=%d err=%v copied=%v", n, err, &out[0] != &in[0])
	}
}

func FuzzPropagateHLS(f *testing.F) {
	addHLSSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n, err := PropagateHLS(in, ConstQuery(testToken))
		if err != nil {
			if out != nil || n != 0 {
				t.Fatal("output with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadMapping) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if bytes.Count(out, []byte("\n")) != bytes.Count(in, []byte("\n")) {
			t.Fatalf("line count changed:\n%q\n%q", in, out)
		}
		again, n2, err := PropagateHLS(out, ConstQuery(testToken))
		if err != nil || n2 != 0 || !bytes.Equal(again, out) {
			t.Fatalf("second pass not a no-op: n=%d err=%v\n%q\n%q", n2, err, out, again)
		}
		if _, err := ParseHLS(in); err == nil {
			if _, err := ParseHLS(out); err != nil {
				t.Fatalf("input parses, output does not: %v\n%q\n%q", err, in, out)
			}
		}
	})
}

func FuzzPropagateDASH(f *testing.F) {
	addDASHSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n, err := PropagateDASH(in, ConstQuery("CAT=t&x=1"))
		if err != nil {
			if out != nil || n != 0 {
				t.Fatal("output with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadMapping) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		again, n2, err := PropagateDASH(out, ConstQuery("CAT=t&x=1"))
		if err != nil || n2 != 0 || !bytes.Equal(again, out) {
			t.Fatalf("second pass not a no-op: n=%d err=%v\n%q\n%q", n2, err, out, again)
		}
		if _, err := ParseDASH(in); err == nil {
			if _, err := ParseDASH(out); err != nil {
				t.Fatalf("input parses, output does not: %v\n%q\n%q", err, in, out)
			}
		}
	})
}

func BenchmarkPropagateHLS(b *testing.B) {
	in := readFile(b, filepath.Join("testdata", "llhls_apple_parts.m3u8.golden"))
	q := ConstQuery(testToken)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := PropagateHLS(in, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPropagateDASH(b *testing.B) {
	in := readFile(b, filepath.Join("testdata", "dashif_livesim_number.mpd.golden"))
	q := ConstQuery(testToken)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := PropagateDASH(in, q); err != nil {
			b.Fatal(err)
		}
	}
}
