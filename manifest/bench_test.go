package manifest

import (
	"fmt"
	"strings"
	"testing"
)

// livePlaylist builds an LL-free live playlist of n segments with absolute
// origin URLs, the worst case for the rewriter: every line after the header
// pair is rewritten.
func livePlaylist(n int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:%d\n", 90210)
	b.WriteString("#EXT-X-MAP:URI=\"https://origin.example.com/hls/live/chan1/1080p/init.mp4\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:2024-06-12T09:%02d:%02d.000Z\n#EXTINF:6.006,\n", (i/10)%60, (i*6)%60)
		fmt.Fprintf(&b, "https://origin.example.com/hls/live/chan1/1080p/seg_%d.m4s?sid=7f3a\n", 90210+i)
	}
	return []byte(b.String())
}

func BenchmarkRewriteHLS(b *testing.B) {
	base := mustParseURL(b, "https://origin.example.com/hls/live/chan1/1080p/index.m3u8")
	for _, n := range []int{6, 500} {
		data := livePlaylist(n)
		b.Run(fmt.Sprintf("live-%d-segments", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := RewriteHLS(data, base, testMapper); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	relative := readFile(b, "testdata/nginx_rtmp_relative.m3u8")
	b.Run("nothing-to-rewrite", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(relative)))
		for b.Loop() {
			if _, _, err := RewriteHLS(relative, base, testMapper); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRewriteDASH(b *testing.B) {
	base := mustParseURL(b, "https://cdn.origin.test/dash/live.mpd")
	for _, name := range []string{"mediapackage_location_patch.mpd", "unified_multiperiod.mpd"} {
		data := readFile(b, "testdata/"+name)
		b.Run(strings.TrimSuffix(name, ".mpd"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := RewriteDASH(data, base, testMapper); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseHLS(b *testing.B) {
	for _, n := range []int{6, 500} {
		data := livePlaylist(n)
		b.Run(fmt.Sprintf("live-%d-segments", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseHLS(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseDASH(b *testing.B) {
	data := readFile(b, "testdata/mediapackage_location_patch.mpd")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDASH(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassify(b *testing.B) {
	head := cat(boxStyp, boxMoof)
	b.ReportAllocs()
	for b.Loop() {
		Classify("video/mp4", "/hls/live/chan1/1080p/seg_90210.m4s?sid=7f3a", head)
	}
}

// TestRewriteHLSNoOpAllocs pins the fast path: a playlist with nothing to
// rewrite costs no allocation and comes back as the same slice.
func TestRewriteHLSNoOpAllocs(t *testing.T) {
	data := readFile(t, "testdata/nginx_rtmp_relative.m3u8")
	base := mustParseURL(t, "https://origin.example.com/hls/x.m3u8")
	allocs := testing.AllocsPerRun(100, func() {
		out, _, _ := RewriteHLS(data, base, testMapper)
		if &out[0] != &data[0] {
			t.Fatal("copied")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per no-op rewrite, want 0", allocs)
	}
}

// TestRewriteHLSOneOutputAllocation checks that the output buffer is
// allocated once: the allocations left are those of url.Parse and the
// Mapper, a fixed number per rewritten URL.
func TestRewriteHLSOneOutputAllocation(t *testing.T) {
	base := mustParseURL(t, "https://origin.example.com/hls/x.m3u8")
	perURL := func(n int) float64 {
		data := livePlaylist(n)
		return testing.AllocsPerRun(20, func() {
			if _, _, err := RewriteHLS(data, base, testMapper); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := perURL(10), perURL(110)
	// 100 more URLs; anything beyond a constant per URL means the output
	// buffer was regrown.
	per := (large - small) / 100
	if per != float64(int(per)) {
		t.Errorf("allocations grow unevenly: %v for 10 segments, %v for 110", small, large)
	}
	if fixed := small - per*11; fixed > 1 {
		t.Errorf("%v allocations besides the per-URL ones, want 1 (the output)", fixed)
	}
}
