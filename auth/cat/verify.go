package cat

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Options configure a Verifier. The zero value of each field is documented.
type Options struct {
	// Keys are the live keys; at least one. Several may share an alg for
	// rotation; kids must be unique.
	Keys []*Key
	// Issuer, when set, must equal the token's iss (a token without iss
	// is refused). Renewed tokens carry it.
	Issuer string
	// Audience, when set, must share a value with the token's aud when it
	// has one.
	Audience []string
	// Leeway is the clock skew allowed on exp and nbf; zero means none.
	Leeway time.Duration
	// Replay enforces catreplay=1 (use once). Nil means tokens that ask
	// for it are refused, since the edge could not keep the promise.
	Replay *ReplayCache
	// CacheSize bounds the verified-token cache; zero means 4096.
	CacheSize int
}

// Verifier checks tokens. It is safe for concurrent use and immutable but
// for its caches: a key change means a new Verifier.
type Verifier struct {
	opt   Options
	byKid map[string][]*Key
	cache *lru[*Token]
}

// NewVerifier checks the options and builds a Verifier.
func NewVerifier(o Options) (*Verifier, error) {
	if len(o.Keys) == 0 {
		return nil, errors.New("cat: no keys")
	}
	if o.Leeway < 0 {
		return nil, errors.New("cat: negative leeway")
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 4096
	}
	v := &Verifier{opt: o, byKid: map[string][]*Key{}, cache: newLRU[*Token](o.CacheSize)}
	for _, k := range o.Keys {
		if err := k.check(); err != nil {
			return nil, err
		}
		if len(v.byKid[k.ID]) > 0 {
			return nil, fmt.Errorf("cat: duplicate kid %q", k.ID)
		}
		v.byKid[k.ID] = append(v.byKid[k.ID], k)
	}
	return v, nil
}

// Token is a verified token: its signature checked, its claims read. It
// is shared by every request that carries the same text; never modify it.
type Token struct {
	Claims *Claims
	Key    *Key
	text   string
	raw    map[int64]cbor.RawMessage
	uri    []compiledRule

	renewMu   sync.Mutex // guards renewed and renewedAt
	renewed   string
	renewedAt int64
}

// ReplayID is the token's identity for replay: its cti, or a digest of
// the token when it has none.
func (t *Token) ReplayID() string {
	if len(t.Claims.ID) > 0 {
		return "cti:" + string(t.Claims.ID)
	}
	d := sha256.Sum256([]byte(t.text))
	return "sha:" + string(d[:])
}

// Verify parses token text and checks its signature, with a cache of
// verified tokens by text. Claims are not validated here (see Validate).
func (v *Verifier) Verify(text string) (*Token, error) {
	if text == "" {
		return nil, ErrMissing
	}
	if t, ok := v.cache.get(text); ok {
		return t, nil
	}
	t, err := v.verify(text)
	if err != nil {
		return nil, err
	}
	v.cache.add(text, t)
	return t, nil
}

func (v *Verifier) verify(text string) (*Token, error) {
	b, err := decodeBase64(text)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrMalformed, err)
	}
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var key *Key
	if e.hasKid {
		for _, k := range v.byKid[string(e.kid)] {
			if e.verifyWith(k) {
				key = k
			}
		}
		if key == nil {
			if len(v.byKid[string(e.kid)]) == 0 {
				return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, e.kid)
			}
			return nil, ErrSignature
		}
	} else {
		// No kid: try every key of the alg (a handful at most).
		for _, k := range v.opt.Keys {
			if e.verifyWith(k) {
				key = k
				break
			}
		}
		if key == nil {
			return nil, ErrSignature
		}
	}
	payload := e.payload
	if e.payloadText {
		if payload, err = hexDecode(string(e.payload)); err != nil {
			return nil, fmt.Errorf("%w: text payload: %v", ErrMalformed, err)
		}
	}
	c, raw, err := decodeClaims(payload)
	if err != nil {
		var ce *claimError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w: %s", ErrUnsupported, ce.name)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	rules, err := compileRules(c.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &Token{Claims: c, Key: key, text: text, raw: raw, uri: rules}, nil
}

// Request is what a token is validated against.
type Request struct {
	Method   string
	Scheme   string // "http" or "https"
	Host     string // the Host header, port included when sent
	Path     string // the normalised path
	RawQuery string
	ClientIP netip.Addr
	// TokenParam is the query parameter that carries tokens ("CAT"); it is
	// left out of catu query matching.
	TokenParam string
}

// Validate checks the claims of a verified token against a request at
// time now (CTA-5007 section 5; RFC 8392 section 7.2).
func (v *Verifier) Validate(t *Token, r *Request, now time.Time) error {
	c := t.Claims
	sec := now.Unix()
	lee := int64(v.opt.Leeway / time.Second)
	if c.Expires != 0 && sec > c.Expires+lee {
		return ErrExpired
	}
	if c.NotBefore != 0 && sec+lee < c.NotBefore {
		return ErrNotYetValid
	}
	if v.opt.Issuer != "" && c.Issuer != v.opt.Issuer {
		return ErrIssuer
	}
	if len(v.opt.Audience) > 0 && len(c.Audience) > 0 && !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(v.opt.Audience, a) }) {
		return ErrAudience
	}
	if c.Version > 1 {
		return fmt.Errorf("%w: catv %d", ErrVersion, c.Version)
	}
	if len(c.Methods) > 0 && !slices.ContainsFunc(c.Methods, func(m string) bool { return strings.EqualFold(m, r.Method) }) {
		return ErrMethod
	}
	if len(c.NetIP) > 0 || len(c.ASN) > 0 {
		ip := r.ClientIP.Unmap()
		if !slices.ContainsFunc(c.NetIP, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			return ErrIP
		}
	}
	if len(t.uri) > 0 && !matchURI(t.uri, r) {
		return ErrURI
	}
	if c.HasReplay && c.Replay == ReplayProhibited && v.opt.Replay == nil {
		return fmt.Errorf("%w: catreplay without a replay cache", ErrUnsupported)
	}
	return nil
}

// Check verifies and validates, then records the use for catreplay. It
// reports whether the token was seen before (for catreplay=2, reuse
// detection, which allows it).
func (v *Verifier) Check(text string, r *Request, now time.Time) (t *Token, reused bool, err error) {
	t, err = v.Verify(text)
	if err != nil {
		return nil, false, err
	}
	if err := v.Validate(t, r, now); err != nil {
		return t, false, err
	}
	c := t.Claims
	if c.HasReplay && c.Replay != ReplayPermitted && v.opt.Replay != nil {
		exp := c.Expires
		if exp == 0 {
			exp = now.Unix() + 86400
		}
		reused = v.opt.Replay.Seen(t.ReplayID(), exp+int64(v.opt.Leeway/time.Second), now)
		if reused && c.Replay == ReplayProhibited {
			return t, true, ErrReplay
		}
	}
	return t, reused, nil
}

// ShouldRenew reports whether a catr token is inside its renewal window:
// from exp-deadline (60 s when catr gives none, as the reference
// implementation) until exp.
func (t *Token) ShouldRenew(now time.Time) bool {
	r := t.Claims.Renewal
	if r == nil || t.Claims.Expires == 0 {
		return false
	}
	d := int64(60)
	if r.HasDeadline {
		d = r.Deadline
	}
	s := now.Unix()
	return s >= t.Claims.Expires-d && s < t.Claims.Expires
}

// Renew mints the token's successor (CTA-5007 catr): every claim kept,
// iat now, exp now+expadd, a fresh cti, iss the configured issuer when
// set, signed with the key that verified it. An ES256 key needs its
// private half.
func (v *Verifier) Renew(t *Token, now time.Time) (string, error) {
	r := t.Claims.Renewal
	if r == nil {
		return "", errors.New("cat: no catr claim")
	}
	m := make(map[int64]any, len(t.raw)+3)
	for k, val := range t.raw {
		m[k] = val
	}
	cti := make([]byte, 16)
	if _, err := rand.Read(cti); err != nil {
		return "", fmt.Errorf("cat: renew: %w", err)
	}
	m[keyIat] = now.Unix()
	m[keyExp] = now.Unix() + r.ExpAdd
	m[keyCti] = cti
	if v.opt.Issuer != "" {
		m[keyIss] = v.opt.Issuer
	}
	payload, err := encMode.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("cat: renew: %w", err)
	}
	return signPayload(payload, t.Key)
}

// RenewShared is Renew, but hands every request in the same few seconds
// the same successor, so that a viewer's burst of segment requests in the
// renewal window costs one signature. A shared successor is at most
// min(10 s, expadd/4) older than a fresh one would be.
func (v *Verifier) RenewShared(t *Token, now time.Time) (string, error) {
	if t.Claims.Renewal == nil {
		return "", errors.New("cat: no catr claim")
	}
	t.renewMu.Lock()
	defer t.renewMu.Unlock()
	reuse := min(int64(10), t.Claims.Renewal.ExpAdd/4)
	if t.renewed != "" && now.Unix()-t.renewedAt < reuse && now.Unix() >= t.renewedAt {
		return t.renewed, nil
	}
	s, err := v.Renew(t, now)
	if err != nil {
		return "", err
	}
	t.renewed, t.renewedAt = s, now.Unix()
	return s, nil
}
