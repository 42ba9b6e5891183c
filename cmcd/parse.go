package cmcd

import (
	"net/http"
	"strings"
)

// MaxLen bounds what is read of one source (the query parameter's decoded
// value, or one header line). A payload longer than this is read up to
// its last whole key before the bound; the rest is ignored.
const MaxLen = 4096

// maxString bounds sid and cid: CTA-5004 Table 1 gives both a
// maximum length of 64 characters. A longer one is rejected, not cut.
const maxString = 64

// QueryKey is the name of the query parameter CMCD travels in
// (CTA-5004 §3.2).
const QueryKey = "CMCD"

// The four header fields (CTA-5004 §3.1), in net/http's canonical form.
var headerKeys = [...]string{"Cmcd-Request", "Cmcd-Object", "Cmcd-Status", "Cmcd-Session"}

// Parse reads the CMCD a request carries: the four CMCD-* header fields
// (CTA-5004 §3.1) and then the CMCD query parameter of rawQuery, the
// URL's raw (still percent-encoded) query (§3.2). A key sent both ways
// takes the query's value; a key sent twice takes the last. Pieces that do
// not parse, unknown keys and values of the wrong type are skipped: Parse
// never fails and never panics, and a request without CMCD costs no
// allocation.
func Parse(rawQuery string, h http.Header) Data {
	var d Data
	for _, k := range headerKeys {
		for _, v := range h[k] {
			parsePayload(v, &d)
		}
	}
	if rawQuery == "" {
		return d
	}
	for rest := rawQuery; rest != ""; {
		var seg string
		seg, rest, _ = strings.Cut(rest, "&")
		key, val, _ := strings.Cut(seg, "=")
		if !isCMCDKey(key) {
			continue
		}
		if v, ok := unescapeQuery(val, MaxLen+1); ok {
			parsePayload(v, &d)
		}
	}
	return d
}

// parsePayload reads one payload: CTA-5004 §3 — key=value pairs separated
// by commas; a Boolean key whose value is true is sent alone; strings are
// in double quotes with \" and \\ escaped; integers are bare digits;
// tokens are bare words (RFC 8941 §3.3 value syntax, which CMCD's
// structured-field serialisation follows).
func parsePayload(s string, d *Data) {
	if len(s) > MaxLen {
		// Keep the pieces wholly inside the bound: cut at the last comma.
		// A comma inside a quoted string leaves that string unterminated,
		// so that piece is dropped, never read short.
		i := strings.LastIndexByte(s[:MaxLen+1], ',')
		if i < 0 {
			return
		}
		s = s[:i]
	}
	for i := 0; i < len(s); {
		i = skipOWS(s, i)
		k0 := i
		for i < len(s) && isKeyChar(s[i]) {
			i++
		}
		key := s[k0:i]
		v := value{kind: kindBool, b: true} // a key alone is true (§3)
		ok := key != ""
		if ok && i < len(s) && s[i] == '=' {
			v, i, ok = parseValue(s, i+1)
		}
		if ok {
			i = skipOWS(s, i)
			ok = i == len(s) || s[i] == ','
		}
		if !ok {
			// Resume at the next comma outside a string, looking again
			// from the key: a bad string's rest may hold commas.
			i = skipPiece(s, k0)
		}
		if ok {
			d.set(key, v)
		}
		i++ // past the comma
	}
}

type kind uint8

const (
	kindBool kind = iota
	kindInt
	kindString
	kindToken
)

type value struct {
	kind kind
	b    bool
	n    int
	s    string
}

// parseValue reads the value starting at s[i]; it returns the index just
// past it and whether it is one of the kinds CMCD uses.
func parseValue(s string, i int) (value, int, bool) {
	if i >= len(s) {
		return value{}, i, false
	}
	switch c := s[i]; {
	case c == '"':
		return parseString(s, i)
	case c == '-' || isDigit(c):
		return parseInteger(s, i)
	case c == '?':
		// RFC 8941 §3.3.6 Boolean: ?0 or ?1.
		if i+1 < len(s) && (s[i+1] == '0' || s[i+1] == '1') {
			return value{kind: kindBool, b: s[i+1] == '1'}, i + 2, true
		}
		return value{}, i, false
	case isAlpha(c) || c == '*':
		// RFC 8941 §3.3.4 Token.
		j := i + 1
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		return value{kind: kindToken, s: s[i:j]}, j, true
	}
	return value{}, i, false
}

// parseString reads a quoted string (RFC 8941 §3.3.3): printable ASCII,
// with only \" and \\ escaped. A string without escapes is a substring of
// s, not a copy.
func parseString(s string, i int) (value, int, bool) {
	j := i + 1
	escaped := false
	for ; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			str := s[i+1 : j]
			if escaped {
				str = unescapeString(str)
			}
			return value{kind: kindString, s: str}, j + 1, true
		case c == '\\':
			if j+1 >= len(s) || (s[j+1] != '"' && s[j+1] != '\\') {
				return value{}, j, false
			}
			escaped = true
			j++
		case c < 0x20 || c > 0x7e:
			return value{}, j, false
		}
	}
	return value{}, j, false // unterminated
}

func unescapeString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseInteger reads an Integer (RFC 8941 §3.3.1: at most 15 digits). A
// Decimal (digits, '.', digits) is read but reported as no Integer.
func parseInteger(s string, i int) (value, int, bool) {
	j := i
	neg := false
	if s[j] == '-' {
		neg = true
		j++
	}
	d0 := j
	n := 0
	for j < len(s) && isDigit(s[j]) {
		n = n*10 + int(s[j]-'0')
		j++
		if j-d0 > 15 {
			return value{}, j, false
		}
	}
	if j == d0 {
		return value{}, j, false
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		return value{}, j, false
	}
	if neg {
		n = -n
	}
	return value{kind: kindInt, n: n}, j, true
}

// objectTypes are the ot tokens of CTA-5004 Table 1 (the keys). Returning the
// constant, not the substring, keeps a record from pinning the request's
// header or query in memory for one short word.
var objectTypes = [...]string{"m", "a", "v", "av", "i", "c", "tt", "k", "o"}

// set stores one key's value if the key is one Data keeps and the value
// has the type CTA-5004 Table 1 (the reserved keys) gives it.
func (d *Data) set(key string, v value) {
	switch key {
	case "sid", "cid":
		if v.kind != kindString || len(v.s) > maxString {
			return
		}
		if key == "sid" {
			d.SID = v.s
		} else {
			d.CID = v.s
		}
	case "bs", "su":
		b, ok := boolOf(v)
		if !ok {
			return
		}
		if key == "bs" {
			d.BS = b
		} else {
			d.SU = b
		}
	case "ot":
		if v.kind != kindToken {
			return
		}
		for _, t := range objectTypes {
			if v.s == t {
				d.OT = t
				return
			}
		}
	case "br", "bl", "d", "mtp":
		if v.kind != kindInt || v.n < 0 {
			return
		}
		switch key {
		case "br":
			d.BR = v.n
		case "bl":
			d.BL = v.n
		case "d":
			d.D = v.n
		case "mtp":
			d.MTP = v.n
		}
	}
}

// boolOf accepts the Boolean forms players send: the key alone, ?0/?1,
// and the words true/false some older players write.
func boolOf(v value) (bool, bool) {
	switch v.kind {
	case kindBool:
		return v.b, true
	case kindToken:
		switch v.s {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// skipPiece returns the index of the next comma at or after i that is not
// inside a quoted string, or len(s).
func skipPiece(s string, i int) int {
	quoted := false
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return i
			}
		}
	}
	return i
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isKeyChar admits RFC 8941 key characters and the capitals CTA-5004 §3
// shows in custom keys ("com.example-myNumericKey").
func isKeyChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*'
}

// isTokenChar is RFC 9110 tchar plus ':' and '/' (RFC 8941 §3.3.4).
func isTokenChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~', ':', '/':
		return true
	}
	return false
}
