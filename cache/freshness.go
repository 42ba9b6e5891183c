package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CacheControl is the parsed Cache-Control of a response (RFC 9111 5.2.2).
// A Has* flag is false when the directive is absent.
type CacheControl struct {
	MaxAge, SMaxAge         time.Duration
	HasMaxAge, HasSMaxAge   bool
	StaleWhileRevalidate    time.Duration
	StaleIfError            time.Duration
	HasSWR, HasSIE          bool
	NoStore, NoCache        bool
	Private, Public         bool
	MustRevalidate          bool
	ProxyRevalidate         bool
	Immutable               bool
	MustUnderstand, NoTrans bool
}

// ParseCacheControl parses every Cache-Control field value of a response.
// Unknown directives are ignored (RFC 9111 5.2.3). A delta-seconds value that
// is not a non-negative integer makes the directive count as zero, which is
// the safe reading: RFC 9111 1.2.2 says such a value is invalid and 4.2.1
// says a cache should then treat the response as stale.
func ParseCacheControl(values []string) CacheControl {
	var cc CacheControl
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			d = strings.TrimSpace(d)
			if d == "" {
				continue
			}
			name, arg, _ := strings.Cut(d, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch name {
			case "max-age":
				cc.MaxAge, cc.HasMaxAge = deltaSeconds(arg), true
			case "s-maxage":
				cc.SMaxAge, cc.HasSMaxAge = deltaSeconds(arg), true
			case "stale-while-revalidate":
				cc.StaleWhileRevalidate, cc.HasSWR = deltaSeconds(arg), true
			case "stale-if-error":
				cc.StaleIfError, cc.HasSIE = deltaSeconds(arg), true
			case "no-store":
				cc.NoStore = true
			case "no-cache":
				// The qualified form (no-cache="Set-Cookie") restricts only the
				// named fields; a shared cache may treat it as unqualified
				// (RFC 9111 5.2.2.4), which is the safe choice.
				cc.NoCache = true
			case "private":
				cc.Private = true
			case "public":
				cc.Public = true
			case "must-revalidate":
				cc.MustRevalidate = true
			case "proxy-revalidate":
				cc.ProxyRevalidate = true
			case "immutable":
				cc.Immutable = true
			case "must-understand":
				cc.MustUnderstand = true
			case "no-transform":
				cc.NoTrans = true
			}
		}
	}
	return cc
}

func deltaSeconds(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		if err != nil && strings.Trim(s, "0123456789") == "" && s != "" {
			// RFC 9111 1.2.2: a value too large to represent is taken as
			// 2^31 seconds.
			return 1 << 31 * time.Second
		}
		return 0
	}
	if n > 1<<31 {
		n = 1 << 31
	}
	return time.Duration(n) * time.Second
}

// ExplicitLifetime returns the freshness lifetime a shared cache takes from a
// response (RFC 9111 4.2.1): s-maxage, else max-age, else Expires minus
// Date. ok is false when the response carries none of them.
func ExplicitLifetime(h http.Header, cc CacheControl) (lifetime time.Duration, ok bool) {
	switch {
	case cc.HasSMaxAge:
		return cc.SMaxAge, true
	case cc.HasMaxAge:
		return cc.MaxAge, true
	}
	exp := h.Get("Expires")
	if exp == "" {
		return 0, false
	}
	expires, err := http.ParseTime(exp)
	if err != nil {
		// RFC 9111 5.3: an invalid Expires (such as "0") means already
		// expired.
		return 0, true
	}
	date, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return 0, true
	}
	if d := expires.Sub(date); d > 0 {
		return d, true
	}
	return 0, true
}

// InitialAge computes the corrected initial age of a response (RFC 9111
// 4.2.3) from its Age and Date fields and the times the request was sent and
// the response received.
func InitialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	var apparent time.Duration
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		// Date has one-second resolution: the response was made somewhere
		// in [Date, Date+1s). Taking the end of that second keeps a fresh
		// response from being born up to a second old.
		if d := responseTime.Sub(date.Add(time.Second)); d > 0 {
			apparent = d
		}
	}
	var ageValue time.Duration
	if a := h.Get("Age"); a != "" {
		ageValue = deltaSeconds(a)
	}
	delay := responseTime.Sub(requestTime)
	if delay < 0 {
		delay = 0
	}
	corrected := ageValue + delay
	if apparent > corrected {
		return apparent
	}
	return corrected
}
