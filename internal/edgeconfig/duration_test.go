package edgeconfig

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var durationCases = []struct {
	in   string
	want time.Duration
	ok   bool
}{
	// Go's syntax, as before.
	{"500ms", 500 * time.Millisecond, true},
	{"10s", 10 * time.Second, true},
	{"1h30m", 90 * time.Minute, true},
	{"1.5h", 90 * time.Minute, true},
	{"250us", 250 * time.Microsecond, true},
	{"0", 0, true},
	// nginx's units (ngx_parse_time): m is minutes, M a 30-day month, y 365 days.
	{"1d", 24 * time.Hour, true},
	{"2w", 14 * 24 * time.Hour, true},
	{"1M", 30 * 24 * time.Hour, true},
	{"1y", 365 * 24 * time.Hour, true},
	{"1y6M", (365 + 180) * 24 * time.Hour, true},
	{"1h 30m", 90 * time.Minute, true},
	{"1d12h", 36 * time.Hour, true},
	{"10m", 10 * time.Minute, true},
	{"1m500ms", time.Minute + 500*time.Millisecond, true},
	{"10", 10 * time.Second, true}, // a bare number is seconds, as in nginx
	{" 5s ", 5 * time.Second, true},
	// Refused.
	{"", 0, false},
	{"10x", 0, false},
	{"s", 0, false},
	{"1s1d", 0, false},  // nginx wants the largest unit first (Go takes "1s1h")
	{"1d1d", 0, false},  // each unit once
	{"10 5s", 0, false}, // a unit-less number only alone
	{"1d 2", 0, false},  // ...
	{"-1d", 0, false},   // negative in nginx's syntax
	{"1e3s", 0, false},  // no exponents
	{"99999999999999999999y", 0, false},
	{"300000y", 0, false}, // past int64 nanoseconds
	{"1d\n2h", 0, false},
}

func TestParseDuration(t *testing.T) {
	for _, tc := range durationCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.ok && (err != nil || got != tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			if !tc.ok && err == nil {
				t.Fatalf("accepted as %v", got)
			}
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, tc := range durationCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		// What is accepted re-reads as itself in Go's syntax, which the
		// decoder hands yaml.v3.
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("%q = %v re-reads as %v, %v", s, d, back, err)
		}
	})
}

func TestDecodeDurations(t *testing.T) {
	const route = "routes:\n  - prefix: /\n    origin: http://o/\n"
	for _, tc := range []struct {
		name  string
		yaml  string
		check func(File) bool
		err   string // a part of the error; "" means accepted
	}{
		{"go syntax", route + "shutdown_grace: 7s\n", func(f File) bool { return f.ShutdownGrace == 7*time.Second }, ""},
		{"nginx days at the top", route + "shutdown_timeout: 1d\n", func(f File) bool { return f.ShutdownTimeout == 24*time.Hour }, ""},
		{"bare seconds", route + "origin:\n  connect_timeout: 5\n", func(f File) bool { return f.Proxy.Origin.ConnectTimeout == 5*time.Second }, ""},
		{"in a class (map of structs)", route + "classes:\n  segment:\n    ttl: 1h 30m\n", func(f File) bool { return f.Proxy.Classes["segment"].TTL == 90*time.Minute }, ""},
		{"status_ttl values, int keys", route + "status_ttl:\n  404: 2s\n  500: 1m\n", func(f File) bool {
			return f.Proxy.StatusTTL[404] == 2*time.Second && f.Proxy.StatusTTL[500] == time.Minute
		}, ""},
		{"class status_ttl", route + "classes:\n  manifest:\n    status_ttl:\n      404: 500ms\n", func(f File) bool {
			return f.Proxy.Classes["manifest"].StatusTTL[404] == 500*time.Millisecond
		}, ""},
		{"quoted", route + "client:\n  idle_timeout: \"2m\"\n", func(f File) bool { return f.Proxy.Client.IdleTimeout == 2*time.Minute }, ""},
		{"a month is 30 days", route + "classes:\n  other:\n    max_ttl: 1M\n", func(f File) bool { return f.Proxy.Classes["other"].MaxTTL == 30*24*time.Hour }, ""},
		{"sizes keep nginx units", route + "cache:\n  max_bytes: 1g\n", func(f File) bool { return f.Proxy.Cache.MaxBytes == 1<<30 }, ""},
		{"a size with a duration's look is not touched", route + "cache:\n  max_bytes: 10m\n", func(f File) bool { return f.Proxy.Cache.MaxBytes == 10<<20 }, ""},
		{"bad names key and line", route + "classes:\n  segment:\n    ttl: 10x\n", nil, `line 6: classes.segment.ttl: bad duration "10x"`},
		{"bad map value", route + "status_ttl:\n  404: soon\n", nil, `line 5: status_ttl.404: bad duration "soon"`},
		{"bad at the top", route + "shutdown_grace: 1s1d\n", nil, "line 4: shutdown_grace: bad duration"},
		{"unknown field still first", route + "classes:\n  segment:\n    tll: 10x\n", nil, `unknown field "tll"`},
		{"a list is not a duration", route + "shutdown_grace: [1]\n", nil, "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Default()
			err := Decode([]byte(tc.yaml), &f)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(f) {
				t.Fatalf("err %v, decoded %+v", err, f)
			}
		})
	}
	var de *DurationError
	f := Default()
	if err := Decode([]byte("origin:\n  idle_timeout: x\n"), &f); !errors.As(err, &de) || de.Line != 2 || de.Path != "origin.idle_timeout" || de.Value != "x" {
		t.Fatalf("got %#v", err)
	}
}
