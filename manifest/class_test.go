package manifest

import (
	"errors"
	"testing"
)

func TestClassStringAndKind(t *testing.T) {
	tests := []struct {
		c    Class
		name string
		kind Kind
	}{
		{ClassOther, "other", KindOther},
		{ClassHLSMultivariant, "hls-multivariant", KindManifest},
		{ClassHLSMedia, "hls-media", KindManifest},
		{ClassDASHMPD, "dash-mpd", KindManifest},
		{ClassInit, "init", KindInit},
		{ClassSegment, "segment", KindSegment},
		{ClassPart, "part", KindSegment},
		{Class(200), "other", KindOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			if got := tc.c.Kind(); got != tc.kind {
				t.Errorf("Kind() = %v, want %v", got, tc.kind)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in      string
		want    Kind
		wantErr bool
	}{
		{"manifest", KindManifest, false},
		{"segment", KindSegment, false},
		{"init", KindInit, false},
		{"other", KindOther, false},
		{" Segment ", KindSegment, false},
		{"MANIFEST", KindManifest, false},
		{"", KindOther, true},
		{"playlist", KindOther, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseKind(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrUnknownKind) {
					t.Fatalf("err = %v, want ErrUnknownKind", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseKind(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if back, _ := ParseKind(got.String()); back != got {
				t.Errorf("round trip %v -> %q -> %v", got, got.String(), back)
			}
		})
	}
}
