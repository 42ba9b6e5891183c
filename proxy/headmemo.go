package proxy

import (
	"strconv"
	"sync/atomic"
)

// memoSeconds bounds the values headMemo keeps: an hour and a bit, which
// covers the Age and ttl of every live playlist and segment.
const memoSeconds = 4096

// headMemo keeps the header values that vary per response but repeat
// across responses: the Age field and the Cache-Status of a plain hit,
// per whole second. A hit then allocates neither. Each value is made on
// first use and shared, immutable, by every response after it (net/http
// only reads header values).
type headMemo struct {
	age [memoSeconds]atomic.Pointer[[]string]
	hit [memoSeconds]atomic.Pointer[string]
}

// ageHeader returns the Age field's value slice for secs (RFC 9111 5.1:
// whole seconds). The caller must not write into it.
func (m *headMemo) ageHeader(secs int64) []string {
	if secs < 0 || secs >= memoSeconds {
		return []string{strconv.FormatInt(secs, 10)}
	}
	if v := m.age[secs].Load(); v != nil {
		return *v
	}
	v := []string{strconv.FormatInt(secs, 10)}
	m.age[secs].Store(&v)
	return v
}

// hitStatus returns the Cache-Status of a plain hit with ttl seconds
// left, made by mk on first use (and every time, for a ttl out of range).
func (m *headMemo) hitStatus(ttl int64, mk func() string) string {
	if ttl < 0 || ttl >= memoSeconds {
		return mk()
	}
	if v := m.hit[ttl].Load(); v != nil {
		return *v
	}
	v := mk()
	m.hit[ttl].Store(&v)
	return v
}
