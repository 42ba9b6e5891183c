package cat

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/fxamacker/cbor/v2"
)

// Limits on what a token may hold. A CAT for video delivery is a few
// hundred bytes; these leave room for generous catu rules and nothing more.
const (
	// MaxTokenLen bounds the token as carried (base64 text).
	MaxTokenLen = 8 << 10
	// maxNesting bounds CBOR nesting: tag 61 > tag 17 > array > map > map
	// > array reaches 6.
	maxNesting = 12
	// maxItems bounds every array and map.
	maxItems = 64
	// MaxRegexLen bounds a catu regex-match pattern.
	MaxRegexLen = 512
)

// decMode is the one CBOR decoder for token input: bounded, and strict
// about duplicate map keys, so that two readers of the same bytes cannot
// disagree on a claim (RFC 8949 5.6).
func newDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   maxNesting,
		MaxArrayElements:  maxItems,
		MaxMapPairs:       maxItems,
		IndefLength:       cbor.IndefLengthAllowed,
		TagsMd:            cbor.TagsAllowed,
		IntDec:            cbor.IntDecConvertSigned,
		MapKeyByteString:  cbor.MapKeyByteStringForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		panic(err) // static options
	}
	return dm
}

var decMode = newDecMode()

// decodeClaims reads a CWT claims set (RFC 8392 section 7.1 step 8) into
// Claims and the raw map, keyed by integer label (text labels are not CAT
// claims and are ignored).
func decodeClaims(payload []byte) (*Claims, map[int64]cbor.RawMessage, error) {
	var m map[any]cbor.RawMessage
	if err := decMode.Unmarshal(payload, &m); err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	raw := make(map[int64]cbor.RawMessage, len(m))
	for k, v := range m {
		switch k := k.(type) {
		case int64:
			raw[k] = v
		case string:
		default:
			return nil, nil, fmt.Errorf("claims: key of type %T", k)
		}
	}
	c := &Claims{}
	for k, v := range raw {
		if name, bad := unsupportedClaims[k]; bad {
			return nil, nil, &claimError{name: name}
		}
		if err := decodeClaim(c, k, v); err != nil {
			return nil, nil, err
		}
	}
	return c, raw, nil
}

// claimError marks a claim the edge refuses to half-enforce.
type claimError struct{ name string }

func (e *claimError) Error() string { return "unsupported claim " + e.name }

func decodeClaim(c *Claims, k int64, v cbor.RawMessage) error {
	var err error
	switch k {
	case keyIss:
		err = decMode.Unmarshal(v, &c.Issuer)
	case keySub:
		err = decMode.Unmarshal(v, &c.Subject)
	case keyAud:
		// RFC 8392 3.1.3: a string or an array of strings.
		var s string
		if decMode.Unmarshal(v, &s) == nil {
			c.Audience = []string{s}
		} else {
			err = decMode.Unmarshal(v, &c.Audience)
		}
	case keyExp:
		c.Expires, err = numericDate(v)
	case keyNbf:
		c.NotBefore, err = numericDate(v)
	case keyIat:
		c.IssuedAt, err = numericDate(v)
	case keyCti:
		err = decMode.Unmarshal(v, &c.ID)
	case keyCatV:
		err = decMode.Unmarshal(v, &c.Version)
		if err == nil && c.Version < 1 {
			err = fmt.Errorf("catv %d", c.Version)
		}
	case keyCatReplay:
		var n int
		err = decMode.Unmarshal(v, &n)
		if err == nil && (n < 0 || n > 2) {
			err = fmt.Errorf("catreplay %d", n)
		}
		c.Replay, c.HasReplay = ReplayMode(n), true
	case keyCatM:
		err = decodeMethods(c, v)
	case keyCatU:
		c.URI, err = decodeCatu(v)
	case keyCatNIP:
		err = decodeCatnip(c, v)
	case keyCatR:
		c.Renewal, err = decodeCatr(v)
	default:
		// catpor, catifdata, private and unknown claims: not
		// restrictions the edge is asked to enforce.
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim %d: %w", k, err)
	}
	return nil
}

// numericDate reads an RFC 8392 NumericDate: an integer or a float,
// possibly under tag 1.
func numericDate(v cbor.RawMessage) (int64, error) {
	var x any
	if err := decMode.Unmarshal(v, &x); err != nil {
		return 0, err
	}
	if t, ok := x.(cbor.Tag); ok && t.Number == 1 {
		x = t.Content
	}
	switch n := x.(type) {
	case int64:
		return n, nil
	case uint64:
		if n > 1<<62 {
			return 0, fmt.Errorf("date %d out of range", n)
		}
		return int64(n), nil
	case float64:
		if n != n || n < -(1<<62) || n > 1<<62 {
			return 0, fmt.Errorf("date %v out of range", n)
		}
		return int64(n), nil
	}
	return 0, fmt.Errorf("date of type %T", x)
}

func decodeMethods(c *Claims, v cbor.RawMessage) error {
	// The reference implementation writes an array; a single string is
	// accepted as a one-element list.
	var s string
	if decMode.Unmarshal(v, &s) == nil {
		c.Methods = []string{s}
		return nil
	}
	return decMode.Unmarshal(v, &c.Methods)
}

// decodeCatu reads catu: a map from URI component to a match object, a
// map from match type to its value.
func decodeCatu(v cbor.RawMessage) ([]URIRule, error) {
	var m map[int64]map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	rules := make([]URIRule, 0, len(m))
	for comp, ms := range m {
		if comp < int64(URIScheme) || comp > int64(URIExtension) {
			return nil, fmt.Errorf("catu component %d", comp)
		}
		r := URIRule{Component: URIComponent(comp)}
		for mt, mv := range ms {
			mm, err := decodeMatch(MatchType(mt), mv)
			if err != nil {
				return nil, fmt.Errorf("catu component %d: %w", comp, err)
			}
			r.Matches = append(r.Matches, mm)
		}
		if len(r.Matches) == 0 {
			return nil, fmt.Errorf("catu component %d: empty match", comp)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func decodeMatch(t MatchType, v cbor.RawMessage) (Match, error) {
	switch t {
	case MatchExact, MatchPrefix, MatchSuffix, MatchContains:
		var s string
		err := decMode.Unmarshal(v, &s)
		return Match{Type: t, Value: s}, err
	case MatchRegex:
		// CTA-5007: an array whose first element is the pattern; the
		// rest name capture groups, which the edge does not use.
		var a []any
		if err := decMode.Unmarshal(v, &a); err != nil {
			return Match{}, err
		}
		if len(a) == 0 {
			return Match{}, fmt.Errorf("regex-match: empty")
		}
		p, ok := a[0].(string)
		if !ok {
			return Match{}, fmt.Errorf("regex-match: pattern of type %T", a[0])
		}
		if len(p) > MaxRegexLen {
			return Match{}, fmt.Errorf("regex-match: pattern of %d bytes, limit %d", len(p), MaxRegexLen)
		}
		if _, err := regexp.Compile(p); err != nil {
			return Match{}, fmt.Errorf("regex-match: %w", err)
		}
		return Match{Type: t, Value: p}, nil
	case MatchSHA256, MatchSHA512256:
		var x any
		if err := decMode.Unmarshal(v, &x); err != nil {
			return Match{}, err
		}
		switch d := x.(type) {
		case []byte:
			return Match{Type: t, Value: string(d)}, nil
		case string:
			b, err := hexDecode(d)
			return Match{Type: t, Value: string(b)}, err
		}
		return Match{}, fmt.Errorf("hash match of type %T", x)
	}
	return Match{}, fmt.Errorf("match type %d", t)
}

// hexDecode reads hex text (either case), as @eyevinn/cat writes
// payloads and hash matches.
func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }

// decodeCatnip reads catnip: an array of ASNs (unsigned integers) and IP
// addresses or prefixes under tag 52 (IPv4) or 54 (IPv6), RFC 9164.
func decodeCatnip(c *Claims, v cbor.RawMessage) error {
	var a []any
	if err := decMode.Unmarshal(v, &a); err != nil {
		return err
	}
	if len(a) == 0 {
		return fmt.Errorf("catnip: empty")
	}
	for _, e := range a {
		switch e := e.(type) {
		case int64:
			if e < 0 || e > 0xffffffff {
				return fmt.Errorf("catnip: asn %d", e)
			}
			c.ASN = append(c.ASN, uint32(e))
		case cbor.Tag:
			p, err := ipFromTag(e)
			if err != nil {
				return fmt.Errorf("catnip: %w", err)
			}
			c.NetIP = append(c.NetIP, p)
		default:
			return fmt.Errorf("catnip: element of type %T", e)
		}
	}
	return nil
}

// ipFromTag reads RFC 9164 section 3: an address (bstr), a prefix
// ([length, bstr with trailing zero bytes dropped]) or an interface
// ([bstr address, length], taken as its prefix).
func ipFromTag(t cbor.Tag) (netip.Prefix, error) {
	var size int
	switch t.Number {
	case 52:
		size = 4
	case 54:
		size = 16
	default:
		return netip.Prefix{}, fmt.Errorf("tag %d", t.Number)
	}
	toAddr := func(b []byte, exact bool) (netip.Addr, error) {
		if len(b) > size || (exact && len(b) != size) {
			return netip.Addr{}, fmt.Errorf("address of %d bytes under tag %d", len(b), t.Number)
		}
		var buf [16]byte
		copy(buf[:], b)
		if size == 4 {
			return netip.AddrFrom4([4]byte(buf[:4])), nil
		}
		return netip.AddrFrom16(buf), nil
	}
	switch x := t.Content.(type) {
	case []byte:
		a, err := toAddr(x, true)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, size*8), nil
	case []any:
		if len(x) != 2 {
			return netip.Prefix{}, fmt.Errorf("prefix of %d elements", len(x))
		}
		n, nok := x[0].(int64)
		b, bok := x[1].([]byte)
		if !nok || !bok {
			// interface format: address first
			b, bok = x[0].([]byte)
			n, nok = x[1].(int64)
			if !nok || !bok {
				return netip.Prefix{}, fmt.Errorf("malformed prefix")
			}
			a, err := toAddr(b, true)
			if err != nil {
				return netip.Prefix{}, err
			}
			if n < 0 || n > int64(size*8) {
				return netip.Prefix{}, fmt.Errorf("prefix length %d", n)
			}
			return netip.PrefixFrom(a, int(n)).Masked(), nil
		}
		if n < 0 || n > int64(size*8) {
			return netip.Prefix{}, fmt.Errorf("prefix length %d", n)
		}
		a, err := toAddr(b, false)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, int(n)).Masked(), nil
	}
	return netip.Prefix{}, fmt.Errorf("content of type %T", t.Content)
}

// decodeCatr reads catr: a map of renewal parameters.
func decodeCatr(v cbor.RawMessage) (*Renewal, error) {
	var m map[int64]cbor.RawMessage
	if err := decMode.Unmarshal(v, &m); err != nil {
		return nil, err
	}
	r := &Renewal{}
	var hasType, hasExpAdd bool
	for k, mv := range m {
		var err error
		switch k {
		case 0:
			var n int
			err = decMode.Unmarshal(mv, &n)
			if err == nil && (n < 0 || n > 3) {
				err = fmt.Errorf("type %d", n)
			}
			r.Type, hasType = RenewalType(n), true
		case 1:
			err = decMode.Unmarshal(mv, &r.ExpAdd)
			hasExpAdd = true
			if err == nil && (r.ExpAdd <= 0 || r.ExpAdd > 1<<31) {
				err = fmt.Errorf("expadd %d", r.ExpAdd)
			}
		case 2:
			err = decMode.Unmarshal(mv, &r.Deadline)
			r.HasDeadline = true
			if err == nil && (r.Deadline < 0 || r.Deadline > 1<<31) {
				err = fmt.Errorf("deadline %d", r.Deadline)
			}
		case 3:
			err = decMode.Unmarshal(mv, &r.CookieName)
		case 4:
			err = decMode.Unmarshal(mv, &r.HeaderName)
		case 5:
			r.CookieParams, err = stringOrList(mv)
		case 6:
			r.HeaderParams, err = stringOrList(mv)
		case 7:
			err = decMode.Unmarshal(mv, &r.Code)
		}
		if err != nil {
			return nil, fmt.Errorf("catr %d: %w", k, err)
		}
	}
	if !hasType || !hasExpAdd {
		return nil, fmt.Errorf("catr: type and expadd are required")
	}
	return r, nil
}

func stringOrList(v cbor.RawMessage) ([]string, error) {
	var s string
	if decMode.Unmarshal(v, &s) == nil {
		return []string{s}, nil
	}
	var l []string
	err := decMode.Unmarshal(v, &l)
	return l, err
}
