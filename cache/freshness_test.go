package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	cases := []struct {
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
	for _, tc := range cases {
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ExplicitLifetime(tc.h, ParseCacheControl(tc.h.Values("Cache-Control")))
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := InitialAge(tc.h, tc.req, now); got != tc.want {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}
