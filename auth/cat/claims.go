// Package cat reads, verifies, validates and mints CTA-5007 Common Access
// Tokens: a CWT (RFC 8392) in a COSE_Mac0 (HMAC-SHA256) or COSE_Sign1
// (ES256) envelope (RFC 9052), carried base64url-encoded.
//
// The claim keys and value shapes follow CTA-5007 and the Eyevinn reference
// implementation (@eyevinn/cat), against which the interop tests in e2e/
// run. Everything read is bounded: the token's size, CBOR nesting, array
// and map sizes, and regex length (RE2: linear time).
package cat

import (
	"net/netip"
)

// Claim keys: RFC 8392 section 4 (iss..cti), RFC 8747 (cnf), CTA-5007
// section 4 (the cat* claims; 282 geohash from the CWT registry).
const (
	keyIss           = 1
	keySub           = 2
	keyAud           = 3
	keyExp           = 4
	keyNbf           = 5
	keyIat           = 6
	keyCti           = 7
	keyCnf           = 8
	keyGeohash       = 282
	keyCatReplay     = 308
	keyCatPor        = 309
	keyCatV          = 310
	keyCatNIP        = 311
	keyCatU          = 312
	keyCatM          = 313
	keyCatALPN       = 314
	keyCatH          = 315
	keyCatGeoISO3166 = 316
	keyCatGeoCoord   = 317
	keyCatGeoAlt     = 318
	keyCatTPK        = 319
	keyCatIfData     = 320
	keyCatDPoP       = 321
	keyCatIf         = 322
	keyCatR          = 323
)

// unsupportedClaims restrict access on facts the edge does not have (the
// viewer's country, coordinates, TLS key, ALPN, request headers) or on
// conditions it does not evaluate. A token carrying one is refused rather
// than half-enforced: failing closed is the only safe reading of a claim
// one cannot check.
var unsupportedClaims = map[int64]string{
	keyCnf:           "cnf",
	keyGeohash:       "geohash",
	keyCatALPN:       "catalpn",
	keyCatH:          "cath",
	keyCatGeoISO3166: "catgeoiso3166",
	keyCatGeoCoord:   "catgeocoord",
	keyCatGeoAlt:     "catgeoalt",
	keyCatTPK:        "cattpk",
	keyCatDPoP:       "catdpop",
	keyCatIf:         "catif",
}

// ReplayMode is the catreplay claim (CTA-5007 4.7).
type ReplayMode int

const (
	ReplayPermitted  ReplayMode = 0 // reuse is fine
	ReplayProhibited ReplayMode = 1 // the token may be used once
	ReplayDetect     ReplayMode = 2 // reuse is allowed but reported
)

// URIComponent names a part of the request URI a catu rule looks at
// (CTA-5007 catu).
type URIComponent int

const (
	URIScheme     URIComponent = 0
	URIHost       URIComponent = 1
	URIPort       URIComponent = 2
	URIPath       URIComponent = 3
	URIQuery      URIComponent = 4
	URIParentPath URIComponent = 5
	URIFilename   URIComponent = 6
	URIStem       URIComponent = 7
	URIExtension  URIComponent = 8
)

var uriComponentNames = map[string]URIComponent{
	"scheme": URIScheme, "host": URIHost, "port": URIPort, "path": URIPath,
	"query": URIQuery, "parent-path": URIParentPath, "filename": URIFilename,
	"stem": URIStem, "extension": URIExtension,
}

// ParseURIComponent reads a component name as the reference implementation
// spells it ("host", "parent-path", ...).
func ParseURIComponent(s string) (URIComponent, bool) {
	c, ok := uriComponentNames[s]
	return c, ok
}

// MatchType is a CTA-5007 match operator.
type MatchType int

const (
	MatchExact     MatchType = 0
	MatchPrefix    MatchType = 1
	MatchSuffix    MatchType = 2
	MatchContains  MatchType = 3
	MatchRegex     MatchType = 4
	MatchSHA256    MatchType = -1
	MatchSHA512256 MatchType = -2
)

var matchTypeNames = map[string]MatchType{
	"exact": MatchExact, "prefix": MatchPrefix, "suffix": MatchSuffix,
	"contains": MatchContains, "regex": MatchRegex, "sha256": MatchSHA256,
	"sha512-256": MatchSHA512256,
}

// ParseMatchType reads "exact", "prefix", "suffix", "contains", "regex",
// "sha256" or "sha512-256" (a "-match" suffix is accepted too).
func ParseMatchType(s string) (MatchType, bool) {
	if len(s) > 6 && s[len(s)-6:] == "-match" {
		s = s[:len(s)-6]
	}
	m, ok := matchTypeNames[s]
	return m, ok
}

// Match is one operator of a catu rule. For MatchRegex, Value is the RE2
// pattern; for the hash matches, Value is the digest (raw bytes, or hex
// text when minted by a tool that writes it so).
type Match struct {
	Type  MatchType
	Value string
}

// URIRule constrains one URI component: every Match must hold.
type URIRule struct {
	Component URIComponent
	Matches   []Match
}

// RenewalType is catr's type (CTA-5007 catr).
type RenewalType int

const (
	RenewAutomatic RenewalType = 0 // the way the token came in
	RenewCookie    RenewalType = 1
	RenewHeader    RenewalType = 2
	RenewRedirect  RenewalType = 3
)

// Renewal is the catr claim: how and when the edge issues a fresh token.
type Renewal struct {
	Type RenewalType
	// ExpAdd is the renewed token's lifetime in seconds from renewal.
	ExpAdd int64
	// Deadline is how many seconds before exp renewal starts; zero with
	// HasDeadline false means the reference implementation's 60.
	Deadline     int64
	HasDeadline  bool
	CookieName   string
	HeaderName   string
	CookieParams []string
	HeaderParams []string
	Code         int
}

// Claims is a CAT's claims set. Zero values mean absent.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expires   int64 // exp, epoch seconds
	NotBefore int64 // nbf
	IssuedAt  int64 // iat
	ID        []byte
	Version   int // catv; absent means 1
	Replay    ReplayMode
	HasReplay bool
	URI       []URIRule
	Methods   []string
	// NetIP and ASN make up catnip: the token is good from a client
	// address inside any prefix. ASNs cannot be checked here (no routing
	// data), so a catnip of ASNs only refuses every client.
	NetIP   []netip.Prefix
	ASN     []uint32
	Renewal *Renewal
}
