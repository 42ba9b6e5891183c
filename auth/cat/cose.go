package cat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

// Alg is a COSE algorithm identifier (RFC 9053).
type Alg int

const (
	// AlgHS256 is HMAC 256/256 (RFC 9053 3.1, COSE alg 5).
	AlgHS256 Alg = 5
	// AlgHS256Trunc64 is HMAC 256/64 (COSE alg 4): only accepted from a
	// key configured for it, since a 64-bit tag is weak. RFC 8392's
	// example MACed CWT uses it.
	AlgHS256Trunc64 Alg = 4
	// AlgES256 is ECDSA P-256 with SHA-256 (RFC 9053 2.1, COSE alg -7).
	AlgES256 Alg = -7
)

// ParseAlg reads "HS256", "HS256/64" or "ES256".
func ParseAlg(s string) (Alg, error) {
	switch strings.ToUpper(s) {
	case "HS256":
		return AlgHS256, nil
	case "HS256/64":
		return AlgHS256Trunc64, nil
	case "ES256":
		return AlgES256, nil
	}
	return 0, fmt.Errorf("cat: unknown alg %q (want HS256 or ES256)", s)
}

func (a Alg) String() string {
	switch a {
	case AlgHS256:
		return "HS256"
	case AlgHS256Trunc64:
		return "HS256/64"
	case AlgES256:
		return "ES256"
	}
	return fmt.Sprintf("alg(%d)", int(a))
}

func (a Alg) isMAC() bool { return a == AlgHS256 || a == AlgHS256Trunc64 }

// Key is one verification (and possibly signing) key. Several may be live
// at once; a token names its key by kid (RFC 9052 3.1 label 4).
type Key struct {
	ID  string // kid, compared as bytes
	Alg Alg
	// Secret is the HMAC key (AlgHS256).
	Secret []byte
	// Public verifies ES256; Private, when set, also signs and renews.
	Public  *ecdsa.PublicKey
	Private *ecdsa.PrivateKey
}

func (k *Key) check() error {
	switch {
	case k.Alg.isMAC():
		if len(k.Secret) < 16 {
			return fmt.Errorf("cat: key %q: HMAC secret of %d bytes, want at least 16", k.ID, len(k.Secret))
		}
	case k.Alg == AlgES256:
		if k.Public == nil && k.Private != nil {
			k.Public = &k.Private.PublicKey
		}
		if k.Public == nil || k.Public.Curve != elliptic.P256() {
			return fmt.Errorf("cat: key %q: ES256 needs a P-256 public key", k.ID)
		}
	default:
		return fmt.Errorf("cat: key %q: unsupported alg %v", k.ID, k.Alg)
	}
	return nil
}

// envelope is a parsed COSE_Mac0 or COSE_Sign1 (RFC 9052 6.2, 4.2).
type envelope struct {
	mac       bool
	alg       Alg
	kid       []byte
	hasKid    bool
	protected []byte
	payload   []byte
	// payloadText marks a payload written as a text string of hex
	// digits, as @eyevinn/cat 0.16 writes Sign1 (and untagged Mac0)
	// payloads: the MAC or signature covers the text string, and the
	// claims are its hex decoding.
	payloadText bool
	tag         []byte // MAC tag or signature
}

// cose tags (RFC 9052 section 2) and the CWT tag (RFC 8392 section 6).
const (
	tagCWT   = 61
	tagMac0  = 17
	tagSign1 = 18
)

func decodeBase64(tok string) ([]byte, error) {
	if len(tok) > MaxTokenLen {
		return nil, fmt.Errorf("token of %d bytes, limit %d", len(tok), MaxTokenLen)
	}
	tok = strings.TrimRight(tok, "=")
	if strings.ContainsAny(tok, "+/") {
		// Standard alphabet, as some minting tools write it.
		return base64.RawStdEncoding.DecodeString(tok)
	}
	return base64.RawURLEncoding.DecodeString(tok)
}

// parseEnvelope reads the COSE structure, with or without the CWT tag and
// the COSE tag. Without a COSE tag, the protected alg decides.
func parseEnvelope(b []byte) (*envelope, error) {
	kind := 0
	for i := 0; len(b) > 0 && b[0]>>5 == 6; i++ {
		if i == 2 {
			return nil, errors.New("too many tags")
		}
		var rt cbor.RawTag
		if err := decMode.Unmarshal(b, &rt); err != nil {
			return nil, err
		}
		switch rt.Number {
		case tagCWT:
			if i != 0 {
				return nil, errors.New("CWT tag inside a COSE tag")
			}
		case tagMac0, tagSign1:
			kind = int(rt.Number)
		default:
			return nil, fmt.Errorf("tag %d", rt.Number)
		}
		b = rt.Content
		if kind != 0 {
			break
		}
	}
	var parts []cbor.RawMessage
	if err := decMode.Unmarshal(b, &parts); err != nil {
		return nil, err
	}
	if len(parts) != 4 {
		return nil, fmt.Errorf("COSE array of %d elements", len(parts))
	}
	e := &envelope{}
	if err := decMode.Unmarshal(parts[0], &e.protected); err != nil {
		return nil, fmt.Errorf("protected: %w", err)
	}
	var prot, unprot map[any]cbor.RawMessage
	if len(e.protected) > 0 {
		if err := decMode.Unmarshal(e.protected, &prot); err != nil {
			return nil, fmt.Errorf("protected: %w", err)
		}
	}
	if err := decMode.Unmarshal(parts[1], &unprot); err != nil {
		return nil, fmt.Errorf("unprotected: %w", err)
	}
	// RFC 9052 3.1: alg belongs in the protected bucket; reading it from
	// the unprotected one would let a forger pick the algorithm.
	algRaw, ok := prot[int64(1)]
	if !ok {
		return nil, errors.New("no protected alg")
	}
	if _, dup := unprot[int64(1)]; dup {
		return nil, errors.New("alg in both buckets")
	}
	var alg int64
	if err := decMode.Unmarshal(algRaw, &alg); err != nil {
		return nil, fmt.Errorf("alg: %w", err)
	}
	e.alg = Alg(alg)
	switch {
	case e.alg.isMAC():
		e.mac = true
	case e.alg == AlgES256:
	default:
		return nil, fmt.Errorf("unsupported alg %d", alg)
	}
	if (kind == tagMac0 && !e.mac) || (kind == tagSign1 && e.mac) {
		return nil, fmt.Errorf("alg %v under COSE tag %d", e.alg, kind)
	}
	kidRaw, ok := prot[int64(4)]
	if !ok {
		kidRaw, ok = unprot[int64(4)]
	}
	if ok {
		var kid any
		if err := decMode.Unmarshal(kidRaw, &kid); err != nil {
			return nil, fmt.Errorf("kid: %w", err)
		}
		switch k := kid.(type) {
		case []byte:
			e.kid = k
		case string:
			e.kid = []byte(k)
		default:
			return nil, fmt.Errorf("kid of type %T", kid)
		}
		e.hasKid = true
	}
	if len(parts[2]) > 0 && parts[2][0]>>5 == 3 {
		var hexText string
		if err := decMode.Unmarshal(parts[2], &hexText); err != nil {
			return nil, fmt.Errorf("payload: %w", err)
		}
		e.payload, e.payloadText = []byte(hexText), true
	} else if err := decMode.Unmarshal(parts[2], &e.payload); err != nil || e.payload == nil {
		return nil, fmt.Errorf("payload: not an attached bstr")
	}
	if err := decMode.Unmarshal(parts[3], &e.tag); err != nil {
		return nil, fmt.Errorf("tag: %w", err)
	}
	return e, nil
}

// appendHead appends a CBOR head (RFC 8949 3.1).
func appendHead(dst []byte, major byte, n uint64) []byte {
	major <<= 5
	switch {
	case n < 24:
		return append(dst, major|byte(n))
	case n <= 0xff:
		return append(dst, major|24, byte(n))
	case n <= 0xffff:
		return append(dst, major|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(dst, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// toBeAuthed builds MAC_structure (RFC 9052 6.3) or Sig_structure (4.4)
// with an empty external_aad.
func toBeAuthed(context string, protected, payload []byte, payloadText bool) []byte {
	b := make([]byte, 0, 16+len(protected)+len(payload))
	b = append(b, 0x84)
	b = appendHead(b, 3, uint64(len(context)))
	b = append(b, context...)
	b = appendHead(b, 2, uint64(len(protected)))
	b = append(b, protected...)
	b = append(b, 0x40)
	major := byte(2)
	if payloadText {
		major = 3
	}
	b = appendHead(b, major, uint64(len(payload)))
	return append(b, payload...)
}

func macTag(alg Alg, secret, protected, payload []byte, payloadText bool) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write(toBeAuthed("MAC0", protected, payload, payloadText))
	sum := h.Sum(nil)
	if alg == AlgHS256Trunc64 {
		return sum[:8]
	}
	return sum
}

// verifyWith checks e against one key, in constant time for MACs.
func (e *envelope) verifyWith(k *Key) bool {
	if k.Alg != e.alg {
		return false
	}
	if e.mac {
		return hmac.Equal(macTag(e.alg, k.Secret, e.protected, e.payload, e.payloadText), e.tag)
	}
	v, err := cose.NewVerifier(cose.AlgorithmES256, k.Public)
	if err != nil {
		return false
	}
	return v.Verify(toBeAuthed("Signature1", e.protected, e.payload, e.payloadText), e.tag) == nil
}

// Sign mints a token for claims with key: a CWT (tag 61) around a tagged
// COSE_Mac0 or COSE_Sign1, base64url without padding. The kid goes in the
// unprotected header, as the reference implementation writes it.
func Sign(c *Claims, k *Key) (string, error) {
	m, err := c.claimsMap()
	if err != nil {
		return "", err
	}
	payload, err := encMode.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("cat: encode claims: %w", err)
	}
	return signPayload(payload, k)
}

func signPayload(payload []byte, k *Key) (string, error) {
	if err := k.check(); err != nil {
		return "", err
	}
	protected, _ := encMode.Marshal(map[int64]int64{1: int64(k.Alg)})
	unprotected := map[int64]any{}
	if k.ID != "" {
		unprotected[4] = []byte(k.ID)
	}
	var tagNum uint64
	var last []byte
	if k.Alg.isMAC() {
		tagNum, last = tagMac0, macTag(k.Alg, k.Secret, protected, payload, false)
	} else {
		if k.Private == nil {
			return "", fmt.Errorf("cat: key %q has no private key", k.ID)
		}
		s, err := cose.NewSigner(cose.AlgorithmES256, k.Private)
		if err != nil {
			return "", fmt.Errorf("cat: %w", err)
		}
		last, err = s.Sign(rand.Reader, toBeAuthed("Signature1", protected, payload, false))
		if err != nil {
			return "", fmt.Errorf("cat: sign: %w", err)
		}
		tagNum = tagSign1
	}
	msg := cbor.Tag{Number: tagCWT, Content: cbor.Tag{Number: tagNum, Content: []any{protected, unprotected, payload, last}}}
	b, err := encMode.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("cat: encode: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
