package origin

import (
	"errors"
	"net/url"
	"testing"
)

var directiveCases = []struct {
	name  string
	query string
	want  directives
	err   error
}{
	{"none", "", directives{part: -1}, nil},
	{"other parameters", "token=abc&_HLS_future=1", directives{part: -1}, nil},
	{"msn", "_HLS_msn=42", directives{block: true, msn: 42, part: -1}, nil},
	{"msn and part", "_HLS_msn=42&_HLS_part=3", directives{block: true, msn: 42, part: 3}, nil},
	{"zero", "_HLS_msn=0&_HLS_part=0", directives{block: true, part: 0}, nil},
	{"largest msn", "_HLS_msn=18446744073709551615", directives{block: true, msn: 1<<64 - 1, part: -1}, nil},
	{"skip", "_HLS_skip=YES", directives{part: -1, skip: true}, nil},
	{"skip v2", "_HLS_skip=v2", directives{part: -1, skip: true}, nil},
	{"all", "_HLS_skip=YES&_HLS_part=1&_HLS_msn=7", directives{block: true, msn: 7, part: 1, skip: true}, nil},
	{"part without msn", "_HLS_part=1", directives{}, errPartWithoutMSN},
	{"part without msn, with skip", "_HLS_part=1&_HLS_skip=YES", directives{}, errPartWithoutMSN},
	{"msn not a number", "_HLS_msn=x", directives{}, errBadDirective},
	{"msn empty", "_HLS_msn=", directives{}, errBadDirective},
	{"msn negative", "_HLS_msn=-1", directives{}, errBadDirective},
	{"msn signed", "_HLS_msn=%2B1", directives{}, errBadDirective},
	{"msn spaces", "_HLS_msn=%201", directives{}, errBadDirective},
	{"msn hex", "_HLS_msn=0x10", directives{}, errBadDirective},
	{"msn overflow", "_HLS_msn=18446744073709551616", directives{}, errBadDirective},
	{"msn twice", "_HLS_msn=1&_HLS_msn=1", directives{}, errBadDirective},
	{"part fraction", "_HLS_msn=1&_HLS_part=1.0", directives{}, errBadDirective},
	{"part overflow", "_HLS_msn=1&_HLS_part=2147483648", directives{}, errBadDirective},
	{"skip lower case", "_HLS_skip=yes", directives{}, errBadDirective},
	{"skip NO", "_HLS_skip=NO", directives{}, errBadDirective},
	{"skip twice", "_HLS_skip=YES&_HLS_skip=YES", directives{}, errBadDirective},
}

func TestParseDirectives(t *testing.T) {
	for _, tc := range directiveCases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseDirectives(q)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseDirectives = %+v, %v; want %+v", got, err, tc.want)
			}
			if again, err := parseDirectives(got.query()); err != nil || again != got {
				t.Errorf("re-encoded %q parses as %+v, %v", got.query().Encode(), again, err)
			}
		})
	}
}

// FuzzParseDirectives: whatever is accepted re-encodes to the same
// directives.
func FuzzParseDirectives(f *testing.F) {
	for _, tc := range directiveCases {
		f.Add(tc.query)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		d, err := parseDirectives(q)
		if err != nil {
			if !errors.Is(err, errBadDirective) && !errors.Is(err, errPartWithoutMSN) {
				t.Fatalf("%q: unexpected error %v", query, err)
			}
			return
		}
		if again, err := parseDirectives(d.query()); err != nil || again != d {
			t.Fatalf("%q: %+v re-encodes as %q, which parses as %+v, %v", query, d, d.query().Encode(), again, err)
		}
	})
}
