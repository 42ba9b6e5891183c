package cache

import (
	"net/http"
	"testing"
	"time"
)

// httpDateCases drive TestParseHTTPDate and seed FuzzParseHTTPDate.
var httpDateCases = []struct {
	name string
	in   string
	want time.Time // zero: invalid
}{
	{"imf-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT", time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)},
	{"rfc850", "Sunday, 06-Nov-94 08:49:37 GMT", time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)},
	{"asctime one-digit day", "Sun Nov  6 08:49:37 1994", time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)},
	{"asctime two-digit day", "Thu Dec 31 23:59:59 2026", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
	{"leap second", "Wed, 31 Dec 2025 23:59:60 GMT", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	{"leap day", "Sat, 29 Feb 2020 00:00:00 GMT", time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC)},
	{"rfc850 two-digit year in the next century", "Monday, 01-Jan-40 00:00:00 GMT", time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)},
	{"run of spaces", "Sun,  06 Nov 1994 08:49:37 GMT", time.Time{}},
	{"runs of spaces inside", "Sun, 06  Nov 1994 08:49:37  GMT", time.Time{}},
	{"one-digit hour", "Sun, 06 Nov 1994 8:49:37 GMT", time.Time{}},
	{"one-digit day", "Sun, 6 Nov 1994 08:49:37 GMT", time.Time{}},
	{"missing GMT", "Sun, 06 Nov 1994 08:49:37", time.Time{}},
	{"other zone", "Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}},
	{"numeric zone", "Sun, 06 Nov 1994 08:49:37 +0000", time.Time{}},
	{"lower-case month", "Sun, 06 nov 1994 08:49:37 GMT", time.Time{}},
	{"lower-case gmt", "Sun, 06 Nov 1994 08:49:37 gmt", time.Time{}},
	{"bad day name", "Sux, 06 Nov 1994 08:49:37 GMT", time.Time{}},
	{"hour 24", "Sun, 06 Nov 1994 24:00:00 GMT", time.Time{}},
	{"minute 60", "Sun, 06 Nov 1994 08:60:00 GMT", time.Time{}},
	{"second 61", "Sun, 06 Nov 1994 08:49:61 GMT", time.Time{}},
	{"february 30", "Sun, 30 Feb 1994 08:49:37 GMT", time.Time{}},
	{"day 00", "Sun, 00 Nov 1994 08:49:37 GMT", time.Time{}},
	{"trailing space", "Sun, 06 Nov 1994 08:49:37 GMT ", time.Time{}},
	{"leading space", " Sun, 06 Nov 1994 08:49:37 GMT", time.Time{}},
	{"zero", "0", time.Time{}},
	{"empty", "", time.Time{}},
	{"rfc850 short day name", "Sun, 06-Nov-94 08:49:37 GMT", time.Time{}},
	{"rfc850 four-digit year", "Sunday, 06-Nov-1994 08:49:37 GMT", time.Time{}},
	{"asctime two spaces before two-digit day", "Sun Nov  16 08:49:37 1994", time.Time{}},
	{"asctime zero-padded with one space", "Sun Nov 06 08:49:37 1994", time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)},
	{"asctime missing year", "Sun Nov  6 08:49:37", time.Time{}},
	{"sign in digits", "Sun, +6 Nov 1994 08:49:37 GMT", time.Time{}},
}

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range httpDateCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseHTTPDate(tc.in, now)
			if ok != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Fatalf("parseHTTPDate(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, !tc.want.IsZero())
			}
		})
	}
}

func FuzzParseHTTPDate(f *testing.F) {
	for _, tc := range httpDateCases {
		f.Add(tc.in)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s, now)
		if !ok {
			return
		}
		if got.Year() < 0 || got.Year() > 9999 {
			t.Fatalf("%q parsed to %v, outside 4DIGIT years", s, got)
		}
		// Anything accepted re-formats to an IMF-fixdate that parses to
		// the same instant.
		out := got.UTC().Format(http.TimeFormat)
		again, ok := parseHTTPDate(out, now)
		if !ok || !again.Equal(got) {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, got, out, again, ok)
		}
	})
}
