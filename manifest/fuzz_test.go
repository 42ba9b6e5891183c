package manifest

import (
	"bytes"
	"errors"
	"testing"
)

// Every fuzzer is seeded from the corpus files and from the table tests, so
// a case added to a table is fuzzed from then on.

func addHLSSeeds(f *testing.F) {
	for _, p := range corpus(f, ".m3u8") {
		f.Add(readFile(f, p))
	}
	for _, tc := range rewriteHLSCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range parseHLSCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range ruleCases {
		if tc.playlist != "" {
			f.Add([]byte(tc.playlist))
		}
	}
	for _, tc := range compareCases {
		f.Add([]byte(tc.prev))
		f.Add([]byte(tc.next))
	}
}

func addDASHSeeds(f *testing.F) {
	for _, p := range corpus(f, ".mpd") {
		f.Add(readFile(f, p))
	}
	for _, tc := range rewriteDASHCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range parseDASHCases {
		f.Add([]byte(tc.in))
	}
}

func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.ct, tc.path, tc.head)
	}
	for _, p := range corpus(f, ".m3u8", ".mpd") {
		f.Add("", p, readFile(f, p))
	}
	f.Fuzz(func(t *testing.T, ct, path string, head []byte) {
		c := Classify(ct, path, head)
		if c > ClassPart {
			t.Fatalf("Classify returned %d", c)
		}
		if c.Kind() > KindInit || c.String() == "" {
			t.Fatalf("class %d has kind %d, name %q", c, c.Kind(), c.String())
		}
	})
}

func FuzzRewriteHLS(f *testing.F) {
	addHLSSeeds(f)
	base := mustParseURL(f, "https://origin.example.com/hls/live/index.m3u8")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n, err := RewriteHLS(in, base, testMapper)
		if err != nil {
			if out != nil || n != 0 {
				t.Fatalf("output with an error: %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadMapping) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if n == 0 && len(in) > 0 && &out[0] != &in[0] {
			t.Fatal("nothing rewritten but the input was copied")
		}
		if bytes.Count(out, []byte("\n")) != bytes.Count(in, []byte("\n")) {
			t.Fatalf("line count changed:\n%q\n%q", in, out)
		}
		again, n2, err := RewriteHLS(out, base, testMapper)
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

func FuzzRewriteDASH(f *testing.F) {
	addDASHSeeds(f)
	base := mustParseURL(f, "https://cdn.origin.test/dash/live.mpd")
	f.Fuzz(func(t *testing.T, in []byte) {
		out, n, err := RewriteDASH(in, base, testMapper)
		if err != nil {
			if out != nil || n != 0 {
				t.Fatalf("output with an error: %v", err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadMapping) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if n == 0 && len(in) > 0 && &out[0] != &in[0] {
			t.Fatal("nothing rewritten but the input was copied")
		}
		again, n2, err := RewriteDASH(out, base, testMapper)
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

func FuzzParseHLS(f *testing.F) {
	addHLSSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := ParseHLS(in)
		if err != nil {
			if st != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("state %v, err %v", st, err)
			}
			return
		}
		for i, s := range st.Segments {
			if s.MSN != st.MediaSequence+st.Skipped+uint64(i) {
				t.Fatalf("segment %d has MSN %d", i, s.MSN)
			}
		}
		last, ok := st.LastMSN()
		for _, p := range st.Parts {
			if p.MSN < st.MediaSequence+st.Skipped || (ok && p.MSN > last+1) {
				t.Fatalf("part %+v outside the playlist", p)
			}
		}
		if m, p, ok := st.LastPart(); ok && !st.Reaches(m, p) {
			t.Fatal("playlist does not reach its own last part")
		}
		if ok && !st.Reaches(last, -1) {
			t.Fatal("playlist does not reach its own last segment")
		}
		if st.Edge().TooFar(Directives{Block: true, MSN: last, Part: -1}, st.PartTarget) {
			t.Fatal("its own last segment is too far")
		}
		if v, _, err := Compare(st, st); v != VerdictOK || err != nil {
			t.Fatalf("Compare with itself: %v %v", v, err)
		}
		// A second, independent reader agrees (hlslib_test.go).
		if d := libraryDisagrees(in, st); d != "" {
			t.Fatalf("%q: %s", in, d)
		}
	})
}

func FuzzParseDASH(f *testing.F) {
	addDASHSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := ParseDASH(in)
		if err != nil {
			if st != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("state %v, err %v", st, err)
			}
			return
		}
		for _, tpl := range st.Templates {
			if tpl.Timescale == 0 || tpl.Period >= st.Periods {
				t.Fatalf("template %+v with %d periods", tpl, st.Periods)
			}
		}
	})
}
