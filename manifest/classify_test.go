package manifest

import "testing"

// Box headers for sniffing tests.
var (
	boxFtyp = []byte("\x00\x00\x00\x18ftypiso6\x00\x00\x00\x00iso6cmfc")
	boxMoov = []byte("\x00\x00\x00\x10moov\x00\x00\x00\x08mvhd")
	boxStyp = []byte("\x00\x00\x00\x18stypmsdh\x00\x00\x00\x00msdhmsix")
	boxMoof = []byte("\x00\x00\x00\x10moof\x00\x00\x00\x08mfhd")
	boxFree = []byte("\x00\x00\x00\x08free")
	tsHead  = append([]byte{0x47, 0x40, 0x00, 0x10}, make([]byte, 184)...)
)

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

type classifyCase struct {
	name string
	ct   string
	path string
	head []byte
	want Class
}

var classifyCases = []classifyCase{
	// Content-Type decides the family.
	{"apple mpegurl media", "application/vnd.apple.mpegurl", "/live/index", []byte("#EXTM3U\n#EXT-X-TARGETDURATION:6\n"), ClassHLSMedia},
	{"x-mpegurl multivariant", "application/x-mpegURL; charset=utf-8", "/live/master", []byte("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n"), ClassHLSMultivariant},
	{"audio/mpegurl no bytes", "audio/mpegurl", "/a", nil, ClassHLSMedia},
	{"mpegurl with EXT-X-MEDIA first", "application/vnd.apple.mpegurl", "/m.m3u8", []byte("#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"x\"\n"), ClassHLSMultivariant},
	{"media sequence is not EXT-X-MEDIA", "application/vnd.apple.mpegurl", "/m.m3u8", []byte("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1\n"), ClassHLSMedia},
	{"i-frame playlist is media", "application/vnd.apple.mpegurl", "/i.m3u8", []byte("#EXTM3U\n#EXT-X-I-FRAMES-ONLY\n"), ClassHLSMedia},
	{"dash content type", "application/dash+xml", "/live/manifest", nil, ClassDASHMPD},
	{"mp2t", "video/MP2T", "/seg1.ts", nil, ClassSegment},
	{"mp4 init by bytes", "video/mp4", "/v/seg.mp4", cat(boxFtyp, boxMoov), ClassInit},
	{"mp4 segment by bytes despite init name", "video/mp4", "/v/init.mp4", cat(boxStyp, boxMoof), ClassSegment},
	{"mp4 init by name", "video/mp4", "/v/init.mp4", nil, ClassInit},
	{"iso.segment", "video/iso.segment", "/v/1.m4s", nil, ClassSegment},
	{"audio/mp4 part by name", "audio/mp4", "/a/filePart271.3.mp4", nil, ClassPart},
	{"vtt", "text/vtt", "/s/fileSequence1.webvtt", nil, ClassSegment},
	{"unknown video type", "video/x-m4v", "/v/7.m4v", nil, ClassSegment},
	{"json is other", "application/json", "/steering.m3u8", nil, ClassOther},
	{"html error page is other", "text/html", "/live/index.m3u8", nil, ClassOther},
	{"key is other", "application/octet-stream", "/keys/k1.key", nil, ClassOther},

	// A generic Content-Type never overrides a clear extension.
	{"octet-stream m3u8", "application/octet-stream", "/live/index.m3u8", nil, ClassHLSMedia},
	{"octet-stream m3u8 multivariant", "binary/octet-stream", "/live/master.m3u8", []byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n"), ClassHLSMultivariant},
	{"text/plain m3u8", "text/plain", "/x/chunklist_w1.m3u8", nil, ClassHLSMedia},
	{"text/plain vtt", "text/plain", "/sub/3.vtt", nil, ClassSegment},
	{"xml mpd", "application/xml", "/dash/live.mpd", nil, ClassDASHMPD},
	{"octet-stream m4s", "application/octet-stream", "/v/123.m4s", nil, ClassSegment},

	// Extension only.
	{"m3u8 no bytes", "", "/live/index.m3u8", nil, ClassHLSMedia},
	{"m3u8 with query", "", "/live/index.m3u8?token=a.ts", nil, ClassHLSMedia},
	{"m3u", "", "/radio.m3u", nil, ClassHLSMedia},
	{"mpd", "", "/dash/manifest.mpd", nil, ClassDASHMPD},
	{"ts", "", "/seg-1.ts", nil, ClassSegment},
	{"aac packed audio", "", "/a/seg-1.aac", nil, ClassSegment},
	{"cmfv", "", "/v/1.cmfv", nil, ClassSegment},
	{"cmfa", "", "/a/1.cmfa", nil, ClassSegment},
	{"cmfi", "", "/v/header.cmfi", nil, ClassInit},
	{"init.mp4", "", "/v/init.mp4", nil, ClassInit},
	{"shaka _init.m4s", "", "/v/video_720p_init.m4s", nil, ClassInit},
	{"ffmpeg init-stream0.m4s", "", "/d/init-stream0.m4s", nil, ClassInit},
	{"wowza cinit", "", "/d/chunk_ctvideo_ridp0va0br2500000_cinit_w1_mpd.m4s", nil, ClassInit},
	{"segment named after init by bytes", "", "/d/seg_12.m4s", cat(boxFtyp, boxMoov), ClassInit},
	{"ll-hls part underscore", "", "/v/seg_1348_part2.m4s", nil, ClassPart},
	{"ll-hls part dotted", "", "/v/segment1234.part.m4s", nil, ClassPart},
	{"departure is not a part", "", "/v/departure_12.ts", nil, ClassSegment},
	{"apart is not a part", "", "/v/apart1.ts", nil, ClassSegment},
	{"webvtt", "", "/s/en/fileSequence0.webvtt", nil, ClassSegment},

	// Sniffing only.
	{"sniff hls media", "", "/live/index", []byte("#EXTM3U\n#EXTINF:6,\na.ts\n"), ClassHLSMedia},
	{"sniff hls with BOM", "", "/live/index", []byte("\xef\xbb\xbf#EXTM3U\r\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\n"), ClassHLSMultivariant},
	{"sniff mpd with declaration", "", "/manifest", []byte("<?xml version=\"1.0\"?>\n<!-- c -->\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\">"), ClassDASHMPD},
	{"sniff other xml", "", "/crossdomain", []byte("<?xml version=\"1.0\"?><cross-domain-policy/>"), ClassOther},
	{"sniff ftyp moov", "", "/v/0", cat(boxFtyp, boxMoov), ClassInit},
	{"sniff free ftyp", "", "/v/0", cat(boxFree, boxFtyp, boxMoov), ClassInit},
	{"sniff ftyp then moof", "", "/v/0", cat(boxFtyp, boxMoof), ClassSegment},
	{"sniff styp", "", "/v/1", cat(boxStyp, boxMoof), ClassSegment},
	{"sniff moof", "", "/v/1", boxMoof, ClassSegment},
	{"sniff truncated ftyp", "", "/v/0", boxFtyp[:12], ClassInit},
	{"sniff ts two packets", "", "/s/1", cat(tsHead, []byte{0x47, 0x01, 0x00}), ClassSegment},
	{"sniff ts short", "", "/s/1", tsHead[:8], ClassSegment},
	{"sniff G text is not ts", "", "/readme", []byte("GET / HTTP/1.1"), ClassOther},
	{"sniff id3 packed audio", "", "/a/1", []byte("ID3\x04\x00\x00\x00\x00\x00\x3f"), ClassSegment},
	{"sniff adts", "", "/a/1", []byte{0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc}, ClassSegment},
	{"sniff webvtt", "", "/s/1", []byte("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n"), ClassSegment},
	{"nothing at all", "", "", nil, ClassOther},
	{"unknown everything", "", "/favicon", []byte("\x00\x01\x02"), ClassOther},
}

func TestClassify(t *testing.T) {
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.ct, tc.path, tc.head); got != tc.want {
				t.Errorf("Classify(%q, %q, %q) = %v, want %v", tc.ct, tc.path, tc.head, got, tc.want)
			}
		})
	}
}

func TestClassifyCorpus(t *testing.T) {
	for _, path := range corpus(t, ".m3u8", ".mpd") {
		t.Run(path, func(t *testing.T) {
			data := readFile(t, path)
			st, isHLS := Class(0), false
			if st = Classify("", path, data); st == ClassHLSMultivariant || st == ClassHLSMedia {
				isHLS = true
				p, err := ParseHLS(data)
				if err != nil {
					t.Fatal(err)
				}
				if p.Multivariant != (st == ClassHLSMultivariant) {
					t.Errorf("Classify says %v, ParseHLS says multivariant=%v", st, p.Multivariant)
				}
			}
			if !isHLS && st != ClassDASHMPD {
				t.Errorf("Classify = %v", st)
			}
			// The bytes alone give the same answer as the name.
			if got := Classify("", "/object", data); got != st {
				t.Errorf("by bytes %v, by name %v", got, st)
			}
		})
	}
}
