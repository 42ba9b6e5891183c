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

// TestAllClasses: every class with a name of its own is listed, so
// metrics, which counts only what it is given, counts it (a class added
// after numClasses would be named here and fail).
func TestAllClasses(t *testing.T) {
	listed := map[Class]bool{}
	for _, c := range AllClasses() {
		listed[c] = true
	}
	for i := 0; i < 256; i++ {
		c := Class(i)
		if named := c == ClassOther || c.String() != "other"; named != listed[c] {
			t.Errorf("class %d (%s): named %v, listed by AllClasses %v", i, c, named, listed[c])
		}
	}
}
