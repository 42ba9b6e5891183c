package cat

import (
	"fmt"
	"net/netip"

	"github.com/fxamacker/cbor/v2"
)

// encMode writes CBOR in the core deterministic encoding (RFC 8949 4.2.1),
// so a token minted twice from the same claims is the same bytes.
var encMode = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options
	}
	return em
}()

// claimsMap turns Claims into the CWT claims map.
func (c *Claims) claimsMap() (map[int64]any, error) {
	m := map[int64]any{}
	if c.Issuer != "" {
		m[keyIss] = c.Issuer
	}
	if c.Subject != "" {
		m[keySub] = c.Subject
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		m[keyAud] = c.Audience[0]
	default:
		m[keyAud] = c.Audience
	}
	if c.Expires != 0 {
		m[keyExp] = c.Expires
	}
	if c.NotBefore != 0 {
		m[keyNbf] = c.NotBefore
	}
	if c.IssuedAt != 0 {
		m[keyIat] = c.IssuedAt
	}
	if len(c.ID) > 0 {
		m[keyCti] = c.ID
	}
	if c.Version != 0 {
		m[keyCatV] = c.Version
	}
	if c.HasReplay {
		m[keyCatReplay] = int(c.Replay)
	}
	if len(c.Methods) > 0 {
		m[keyCatM] = c.Methods
	}
	if len(c.URI) > 0 {
		u := map[int64]map[int64]any{}
		for _, r := range c.URI {
			mm := u[int64(r.Component)]
			if mm == nil {
				mm = map[int64]any{}
				u[int64(r.Component)] = mm
			}
			for _, x := range r.Matches {
				switch x.Type {
				case MatchRegex:
					mm[int64(x.Type)] = []any{x.Value}
				case MatchSHA256, MatchSHA512256:
					mm[int64(x.Type)] = []byte(x.Value)
				default:
					mm[int64(x.Type)] = x.Value
				}
			}
		}
		m[keyCatU] = u
	}
	if len(c.NetIP) > 0 || len(c.ASN) > 0 {
		var a []any
		for _, n := range c.ASN {
			a = append(a, uint64(n))
		}
		for _, p := range c.NetIP {
			a = append(a, ipTag(p))
		}
		m[keyCatNIP] = a
	}
	if r := c.Renewal; r != nil {
		if r.ExpAdd <= 0 {
			return nil, fmt.Errorf("catr: expadd must be positive")
		}
		cm := map[int64]any{0: int(r.Type), 1: r.ExpAdd}
		if r.HasDeadline || r.Deadline != 0 {
			cm[2] = r.Deadline
		}
		if r.CookieName != "" {
			cm[3] = r.CookieName
		}
		if r.HeaderName != "" {
			cm[4] = r.HeaderName
		}
		if len(r.CookieParams) > 0 {
			cm[5] = r.CookieParams
		}
		if len(r.HeaderParams) > 0 {
			cm[6] = r.HeaderParams
		}
		if r.Code != 0 {
			cm[7] = r.Code
		}
		m[keyCatR] = cm
	}
	return m, nil
}

// ipTag writes an address or prefix per RFC 9164: a full address as a
// bstr, a prefix as [length, address with trailing zero bytes dropped].
func ipTag(p netip.Prefix) cbor.Tag {
	a := p.Addr().Unmap()
	num := uint64(54)
	b := a.AsSlice()
	if a.Is4() {
		num = 52
	}
	if p.Bits() == len(b)*8 {
		return cbor.Tag{Number: num, Content: b}
	}
	m := p.Masked().Addr().AsSlice()
	for len(m) > 0 && m[len(m)-1] == 0 {
		m = m[:len(m)-1]
	}
	return cbor.Tag{Number: num, Content: []any{p.Bits(), m}}
}
