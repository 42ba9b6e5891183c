// Package auth is the edge's per-route access check: nginx secure_link
// links (auth/securelink) or CTA-5007 Common Access Tokens (auth/cat),
// checked on every protected request before the cache is consulted, and
// what the response must carry: the token to propagate into playlists and
// any renewed token.
//
// A Checker is immutable. Keys are read when it is built; a config reload
// builds a new one, which is how keys rotate (add the new kid, reload,
// let old tokens expire, drop the old kid, reload).
package auth

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/edgecache/edgecache/auth/cat"
)

// Config is a route's `auth:` block.
//
//	auth:
//	  scheme: cat            # or secure_link
//	  protect: all           # or manifests
//	  cat:
//	    issuer: eyevinn
//	    keys:
//	      - {kid: "2026a", alg: HS256, key_env: CAT_KEY_2026A}
//	      - {kid: "es1", alg: ES256, key_file: /etc/edgecache/es1.pub.pem}
//	  secure_link:
//	    link: "$arg_md5,$arg_expires"
//	    md5: "$secure_link_expires$uri$remote_addr $secure_link_secret"
//	    secret_env: SECURE_LINK_SECRET
type Config struct {
	// Scheme is "secure_link" or "cat". Required.
	Scheme string `yaml:"scheme"`
	// Protect is "all" (every object; the default when empty) or
	// "manifests" (playlists and MPDs only, segments open).
	Protect string `yaml:"protect"`
	// SecureLink configures scheme secure_link.
	SecureLink *SecureLinkConfig `yaml:"secure_link"`
	// CAT configures scheme cat.
	CAT *CATConfig `yaml:"cat"`
}

// SecureLinkConfig is nginx's secure_link and secure_link_md5.
type SecureLinkConfig struct {
	// Link is nginx's `secure_link` expression. Empty means
	// "$arg_md5,$arg_expires".
	Link string `yaml:"link"`
	// MD5 is nginx's `secure_link_md5` expression. Required.
	MD5 string `yaml:"md5"`
	// Secret, SecretEnv or SecretFile give $secure_link_secret, for
	// expressions that keep the secret out of the config text. At most
	// one; none when the secret is written into MD5 as nginx does.
	Secret     string `yaml:"secret"`
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// SegmentGrace extends the expiry of the links the edge writes into a
	// playlist it serves (derived per URI, nginx-secure-token style), so
	// that segments listed just before the playlist link expires can
	// still be fetched. Zero means the playlist link's own expiry.
	SegmentGrace time.Duration `yaml:"segment_grace"`
}

// CATConfig is the Common Access Token setup.
type CATConfig struct {
	// Keys are the live keys, several during a rotation. Required.
	Keys []KeyConfig `yaml:"keys"`
	// Issuer, when set, must be the token's iss; renewed tokens carry it.
	Issuer string `yaml:"issuer"`
	// Audience, when set, must share a value with a token's aud.
	Audience []string `yaml:"audience"`
	// Header carries the token. Empty means "CTA-Common-Access-Token";
	// "off" disables it.
	Header string `yaml:"header"`
	// Cookie carries the token. Empty means "CTA-Common-Access-Token";
	// "off" disables it.
	Cookie string `yaml:"cookie"`
	// Query is the query parameter that carries the token. Empty means
	// "CAT"; "off" disables it (and so propagation).
	Query string `yaml:"query"`
	// Leeway is the clock skew allowed on exp and nbf. Zero means none.
	Leeway time.Duration `yaml:"leeway"`
	// ReplayCache is how many tokens the catreplay cache remembers. Zero
	// means no cache, and tokens with catreplay=1 are refused.
	ReplayCache int `yaml:"replay_cache"`
	// NoRenew turns catr renewal off.
	NoRenew bool `yaml:"no_renew"`
	// CacheSize bounds the verified-token cache. Zero means 4096.
	CacheSize int `yaml:"cache_size"`
}

// KeyConfig is one key. Exactly one of Key, KeyFile and KeyEnv gives the
// material: for HS256, hex (as @eyevinn/cat and cta-token.net show keys)
// or "base64:..." (standard or URL alphabet); for ES256, PEM: a public key
// ("PUBLIC KEY") verifies, a private key ("PRIVATE KEY" or "EC PRIVATE
// KEY") also signs renewed tokens.
type KeyConfig struct {
	ID      string `yaml:"kid"`
	Alg     string `yaml:"alg"`
	Key     string `yaml:"key"`
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`
}

// Deps are what New reads keys and time from. The zero value uses the
// process environment, the file system and the wall clock.
type Deps struct {
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
	Now       func() time.Time
}

func (d *Deps) fill() {
	if d.LookupEnv == nil {
		d.LookupEnv = os.LookupEnv
	}
	if d.ReadFile == nil {
		d.ReadFile = os.ReadFile
	}
	if d.Now == nil {
		d.Now = time.Now
	}
}

// material reads one secret from exactly one of inline, file or env.
func (d *Deps) material(what, inline, file, env string) (string, error) {
	n := 0
	for _, s := range []string{inline, file, env} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return "", fmt.Errorf("%s: give exactly one of the inline value, a file or an environment variable", what)
	}
	switch {
	case file != "":
		b, err := d.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	case env != "":
		v, ok := d.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return strings.TrimSpace(v), nil
	}
	return inline, nil
}

// ParseKey turns key material into a cat.Key (used by New and the
// signing tool).
func ParseKey(kid, alg, material string) (*cat.Key, error) {
	a, err := cat.ParseAlg(alg)
	if err != nil {
		return nil, err
	}
	k := &cat.Key{ID: kid, Alg: a}
	if a != cat.AlgES256 {
		if b64, ok := strings.CutPrefix(material, "base64:"); ok {
			b64 = strings.TrimRight(b64, "=")
			if k.Secret, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
				if k.Secret, err = base64.RawURLEncoding.DecodeString(b64); err != nil {
					return nil, fmt.Errorf("key %q: base64: %w", kid, err)
				}
			}
			return k, nil
		}
		if k.Secret, err = hex.DecodeString(material); err != nil {
			return nil, fmt.Errorf("key %q: HS256 key must be hex or base64:...: %w", kid, err)
		}
		return k, nil
	}
	blk, _ := pem.Decode([]byte(material))
	if blk == nil {
		return nil, fmt.Errorf("key %q: ES256 key must be PEM", kid)
	}
	var parsed any
	switch blk.Type {
	case "PUBLIC KEY":
		parsed, err = x509.ParsePKIXPublicKey(blk.Bytes)
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		parsed, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("key %q: PEM block %q", kid, blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", kid, err)
	}
	switch p := parsed.(type) {
	case *ecdsa.PublicKey:
		k.Public = p
	case *ecdsa.PrivateKey:
		k.Private, k.Public = p, &p.PublicKey
	default:
		return nil, fmt.Errorf("key %q: not an EC key (%T)", kid, parsed)
	}
	return k, nil
}

func orDefault(s, def string) string {
	switch s {
	case "":
		return def
	case "off":
		return ""
	}
	return s
}

// Validate checks c without reading any key (for config checks that run
// where the secrets are not).
func (c *Config) Validate() error {
	switch c.Protect {
	case "", "all", "manifests":
	default:
		return fmt.Errorf("auth: protect %q: want all or manifests", c.Protect)
	}
	switch c.Scheme {
	case "secure_link":
		if c.SecureLink == nil || c.SecureLink.MD5 == "" {
			return errors.New("auth: scheme secure_link needs secure_link.md5")
		}
		if c.CAT != nil {
			return errors.New("auth: scheme secure_link with a cat block")
		}
	case "cat":
		if c.CAT == nil || len(c.CAT.Keys) == 0 {
			return errors.New("auth: scheme cat needs cat.keys")
		}
		if c.SecureLink != nil {
			return errors.New("auth: scheme cat with a secure_link block")
		}
		for i, k := range c.CAT.Keys {
			if _, err := cat.ParseAlg(k.Alg); err != nil {
				return fmt.Errorf("auth: cat key %d: %w", i, err)
			}
		}
	default:
		return fmt.Errorf("auth: scheme %q: want secure_link or cat", c.Scheme)
	}
	return nil
}
