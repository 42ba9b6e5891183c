package cache

import (
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
func ExplicitLifetime(h Header, cc CacheControl) (lifetime time.Duration, ok bool) {
	switch {
	case cc.HasSMaxAge:
		return cc.SMaxAge, true
	case cc.HasMaxAge:
		return cc.MaxAge, true
	}
	exps := h.Values("Expires")
	if len(exps) == 0 {
		return 0, false
	}
	// RFC 9111 5.3: an invalid Expires (such as "0", or a date that is not
	// an HTTP-date to the letter), or more than one, means already
	// expired.
	if len(exps) > 1 {
		return 0, true
	}
	expires, ok := ParseHTTPDate(exps[0])
	if !ok {
		return 0, true
	}
	date, ok := ParseHTTPDate(h.Get("Date"))
	if !ok {
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
func InitialAge(h Header, requestTime, responseTime time.Time) time.Duration {
	var apparent time.Duration
	// An invalid Date gives no apparent age (RFC 9110 5.6.7, 6.6.1).
	if date, ok := ParseHTTPDate(h.Get("Date")); ok {
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

// String formats cc as one Cache-Control field value that ParseCacheControl
// reads back to cc: the directives it holds, in a fixed order.
func (cc CacheControl) String() string {
	var b strings.Builder
	add := func(d string) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d)
	}
	delta := func(name string, has bool, d time.Duration) {
		if has {
			add(name + "=" + strconv.FormatInt(int64(d/time.Second), 10))
		}
	}
	delta("max-age", cc.HasMaxAge, cc.MaxAge)
	delta("s-maxage", cc.HasSMaxAge, cc.SMaxAge)
	delta("stale-while-revalidate", cc.HasSWR, cc.StaleWhileRevalidate)
	delta("stale-if-error", cc.HasSIE, cc.StaleIfError)
	for _, f := range []struct {
		on   bool
		name string
	}{
		{cc.NoStore, "no-store"}, {cc.NoCache, "no-cache"},
		{cc.Private, "private"}, {cc.Public, "public"},
		{cc.MustRevalidate, "must-revalidate"}, {cc.ProxyRevalidate, "proxy-revalidate"},
		{cc.Immutable, "immutable"}, {cc.MustUnderstand, "must-understand"},
		{cc.NoTrans, "no-transform"},
	} {
		if f.on {
			add(f.name)
		}
	}
	return b.String()
}
