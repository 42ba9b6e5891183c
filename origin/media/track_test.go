package media_test

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

func TestInitSegments(t *testing.T) {
	tracks := mediatest.H264AACTracks(t)
	v265, err := media.NewH265Track(mediatest.VPS265(), mediatest.SPS265(), mediatest.PPS265())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tr   *media.Track
	}{
		{"h264", tracks[media.KindVideo]},
		{"h265", v265},
		{"aac", tracks[media.KindAudio]},
		{"opus", media.NewOpusTrack(2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := media.MarshalInit(tc.tr)
			if err != nil {
				t.Fatal(err)
			}
			var init fmp4.Init
			if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			if len(init.Tracks) != 1 || init.Tracks[0].TimeScale != tc.tr.Timescale() {
				t.Fatalf("init tracks %+v", init.Tracks)
			}
		})
	}
}

func TestCodecStrings(t *testing.T) {
	v, err := media.NewH264Track(mediatest.SPS(), mediatest.PPS())
	if err != nil {
		t.Fatal(err)
	}
	h, err := media.NewH265Track(mediatest.VPS265(), mediatest.SPS265(), mediatest.PPS265())
	if err != nil {
		t.Fatal(err)
	}
	a, err := media.NewAACTrack(mediatest.ASC())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, got, want string
	}{
		{"h264 high 3.1", v.CodecString(), "avc1.64001f"},
		{"h265 main L93", h.CodecString(), "hvc1.1.6.L93.90"},
		{"aac lc", a.CodecString(), "mp4a.40.2"},
		{"opus", media.NewOpusTrack(2).CodecString(), "opus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("codec string %q, want %q", tc.got, tc.want)
			}
		})
	}
	if v.Width() != 1280 || v.Height() != 720 || h.Width() != 1280 || h.Height() != 720 {
		t.Errorf("resolution: h264 %dx%d, h265 %dx%d", v.Width(), v.Height(), h.Width(), h.Height())
	}
}
