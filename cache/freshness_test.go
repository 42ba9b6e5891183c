package cache

import (
	"net/http"
	"testing"
	"time"
)

// parseCacheControlCases drive TestParseCacheControl and seed
// FuzzParseCacheControl.
var parseCacheControlCases = []struct {
	name string
	in   []string
	want CacheControl
}{
	{"empty", nil, CacheControl{}},
	{"max-age", []string{"max-age=10"}, CacheControl{MaxAge: 10 * time.Second, HasMaxAge: true}},
	{"s-maxage and public", []string{"public, s-maxage=30, max-age=5"}, CacheControl{MaxAge: 5 * time.Second, HasMaxAge: true, SMaxAge: 30 * time.Second, HasSMaxAge: true, Public: true}},
	{"quoted and case", []string{`Max-Age="7"`}, CacheControl{MaxAge: 7 * time.Second, HasMaxAge: true}},
	{"stale directives", []string{"max-age=1, stale-while-revalidate=4, stale-if-error=60"}, CacheControl{MaxAge: time.Second, HasMaxAge: true, StaleWhileRevalidate: 4 * time.Second, HasSWR: true, StaleIfError: time.Minute, HasSIE: true}},
	{"no-store private no-cache", []string{"no-store", "private, no-cache"}, CacheControl{NoStore: true, Private: true, NoCache: true}},
	{"qualified no-cache", []string{`no-cache="Set-Cookie"`}, CacheControl{NoCache: true}},
	{"invalid delta is stale", []string{"max-age=abc"}, CacheControl{HasMaxAge: true}},
	{"negative is stale", []string{"max-age=-5"}, CacheControl{HasMaxAge: true}},
	{"overflow clamps", []string{"max-age=99999999999999999999"}, CacheControl{MaxAge: 1 << 31 * time.Second, HasMaxAge: true}},
	{"immutable must-revalidate", []string{"max-age=31536000, immutable, must-revalidate"}, CacheControl{MaxAge: 31536000 * time.Second, HasMaxAge: true, Immutable: true, MustRevalidate: true}},
}

func TestParseCacheControl(t *testing.T) {
	for _, tc := range parseCacheControlCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCacheControl(tc.in); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestExplicitLifetime(t *testing.T) {
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		h    http.Header
		want time.Duration
		ok   bool
	}{
		{"none", http.Header{}, 0, false},
		{"s-maxage wins", http.Header{"Cache-Control": {"max-age=5, s-maxage=9"}}, 9 * time.Second, true},
		{"max-age over expires", http.Header{"Cache-Control": {"max-age=5"}, "Expires": {date.Add(time.Hour).Format(http.TimeFormat)}, "Date": {date.Format(http.TimeFormat)}}, 5 * time.Second, true},
		{"expires minus date", http.Header{"Expires": {date.Add(90 * time.Second).Format(http.TimeFormat)}, "Date": {date.Format(http.TimeFormat)}}, 90 * time.Second, true},
		{"invalid expires is expired", http.Header{"Expires": {"0"}}, 0, true},
		{"expires in the past", http.Header{"Expires": {date.Add(-time.Hour).Format(http.TimeFormat)}, "Date": {date.Format(http.TimeFormat)}}, 0, true},
		// RFC 9111 5.3: invalid or repeated Expires is already expired.
		{"expires with a run of spaces", http.Header{"Expires": {"Fri,  02 Jan 2026 04:04:05 GMT"}, "Date": {date.Format(http.TimeFormat)}}, 0, true},
		{"expires with a one-digit hour", http.Header{"Expires": {"Fri, 02 Jan 2026 4:04:05 GMT"}, "Date": {date.Format(http.TimeFormat)}}, 0, true},
		{"expires without GMT", http.Header{"Expires": {"Fri, 02 Jan 2026 04:04:05"}, "Date": {date.Format(http.TimeFormat)}}, 0, true},
		{"two expires lines", http.Header{"Expires": {date.Add(time.Hour).Format(http.TimeFormat), date.Add(time.Hour).Format(http.TimeFormat)}, "Date": {date.Format(http.TimeFormat)}}, 0, true},
		{"expires rfc850", http.Header{"Expires": {"Friday, 02-Jan-26 04:04:05 GMT"}, "Date": {date.Format(http.TimeFormat)}}, time.Hour, true},
		{"expires asctime", http.Header{"Expires": {"Fri Jan  2 04:04:05 2026"}, "Date": {date.Format(http.TimeFormat)}}, time.Hour, true},
		{"invalid date", http.Header{"Expires": {date.Add(time.Hour).Format(http.TimeFormat)}, "Date": {"Fri, 02 Jan 2026 3:04:05 GMT"}}, 0, true},
		{"s-maxage over two expires", http.Header{"Cache-Control": {"s-maxage=7"}, "Expires": {"0", "1"}}, 7 * time.Second, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ExplicitLifetime(NewHeader(tc.h), ParseCacheControl(tc.h.Values("Cache-Control")))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %v,%v want %v,%v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestInitialAge(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	cases := []struct {
		name string
		h    http.Header
		req  time.Time
		want time.Duration
	}{
		{"fresh from origin", http.Header{"Date": {now.Format(http.TimeFormat)}}, now, 0},
		{"age header", http.Header{"Age": {"12"}, "Date": {now.Format(http.TimeFormat)}}, now, 12 * time.Second},
		{"response delay adds", http.Header{"Age": {"3"}}, now.Add(-2 * time.Second), 5 * time.Second},
		{"old date", http.Header{"Date": {now.Add(-30 * time.Second).Format(http.TimeFormat)}}, now, 29 * time.Second},
		{"date within its second", http.Header{"Date": {now.Add(-900 * time.Millisecond).Truncate(time.Second).Format(http.TimeFormat)}}, now, 0},
		// An invalid Date gives no apparent age: only Age and the delay.
		{"invalid date is ignored", http.Header{"Age": {"3"}, "Date": {"Sun,  06 Nov 1994 08:49:37 GMT"}}, now, 3 * time.Second},
		{"rfc850 date", http.Header{"Date": {now.Add(-30 * time.Second).Format("Monday, 02-Jan-06 15:04:05 GMT")}}, now, 29 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := InitialAge(NewHeader(tc.h), tc.req, now); got != tc.want {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

// cacheControlSeeds are field values beyond the table above for
// FuzzParseCacheControl.
var cacheControlSeeds = []string{
	"max-age=0, no-cache, no-store, must-revalidate, proxy-revalidate, public, private, immutable, must-understand, no-transform",
	`s-maxage="60", stale-while-revalidate=5, stale-if-error=86400`,
	"max-age=1,,,max-age=2",
	"MAX-AGE = 3 , Private",
	"max-age=\"\"",
	"max-age=1e3",
	"x-unknown=\"a,b\", max-age=4",
}

func FuzzParseCacheControl(f *testing.F) {
	for _, tc := range parseCacheControlCases {
		for _, v := range tc.in {
			f.Add(v)
		}
	}
	for _, s := range cacheControlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := ParseCacheControl([]string{s})
		for _, d := range []time.Duration{cc.MaxAge, cc.SMaxAge, cc.StaleWhileRevalidate, cc.StaleIfError} {
			if d < 0 || d > 1<<31*time.Second || d%time.Second != 0 {
				t.Fatalf("%q: delta %v outside whole seconds in [0, 2^31]", s, d)
			}
		}
		// The re-joined directives parse to the same thing, and format
		// the same again.
		out := cc.String()
		again := ParseCacheControl([]string{out})
		if again != cc {
			t.Fatalf("%q -> %+v -> %q -> %+v", s, cc, out, again)
		}
		if again.String() != out {
			t.Fatalf("%q formats as %q then %q", s, out, again.String())
		}
	})
}
