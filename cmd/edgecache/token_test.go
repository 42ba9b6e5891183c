package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/manifest"
)

const tokenTestKey = "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388"

// What the signer prints, the edge's checker accepts, and only where it
// should.
func TestTokenSign(t *testing.T) {
	env := map[string]string{"K": tokenTestKey, "SL": "s3cret"}
	check := func(t *testing.T, cfg auth.Config, signed, ip string) auth.Decision {
		t.Helper()
		c, err := auth.New(cfg, auth.Deps{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }, ReadFile: os.ReadFile})
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		return c.Check(&auth.Request{Method: "GET", Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawQuery: u.RawQuery,
			ClientIP: netip.MustParseAddr(ip), Header: http.Header{}, Class: manifest.ClassHLSMedia})
	}

	t.Run("cat", func(t *testing.T) {
		code, out, errOut := cli(t, env, "token", "sign", "-scheme", "cat", "-kid", "k1", "-key-env", "K", "-iss", "me",
			"-ttl", "1h", "-catu", "path:prefix:/live/", "-ip", "192.0.2.0/24", "-url", "https://edge.example/live/a.m3u8")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		signed := strings.TrimSpace(out)
		cfg := auth.Config{Scheme: "cat", CAT: &auth.CATConfig{Issuer: "me", Keys: []auth.KeyConfig{{ID: "k1", Alg: "HS256", KeyEnv: "K"}}}}
		if d := check(t, cfg, signed, "192.0.2.9"); !d.OK {
			t.Fatalf("%s: %+v", signed, d)
		}
		if d := check(t, cfg, signed, "198.51.100.1"); d.OK || d.Reason != "ip" {
			t.Fatalf("other ip: %+v", d)
		}
		if d := check(t, cfg, strings.Replace(signed, "/live/", "/vod/", 1), "192.0.2.9"); d.OK || d.Reason != "uri" {
			t.Fatalf("other path: %+v", d)
		}
	})
	t.Run("secure_link", func(t *testing.T) {
		code, out, errOut := cli(t, env, "token", "sign", "-scheme", "secure_link", "-md5", "$secure_link_expires$uri$remote_addr $secure_link_secret",
			"-secret-env", "SL", "-ttl", "1h", "-ip", "192.0.2.9", "-url", "https://edge.example/live/a.m3u8?x=1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		signed := strings.TrimSpace(out)
		cfg := auth.Config{Scheme: "secure_link", SecureLink: &auth.SecureLinkConfig{MD5: "$secure_link_expires$uri$remote_addr $secure_link_secret", SecretEnv: "SL"}}
		if d := check(t, cfg, signed, "192.0.2.9"); !d.OK {
			t.Fatalf("%s: %+v", signed, d)
		}
		if d := check(t, cfg, signed, "192.0.2.10"); d.OK || d.Status != 403 {
			t.Fatalf("other ip: %+v", d)
		}
	})
	t.Run("cat ES256 from PEM files", func(t *testing.T) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		der, _ := x509.MarshalECPrivateKey(priv)
		pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		privFile, pubFile := filepath.Join(dir, "es.pem"), filepath.Join(dir, "es.pub.pem")
		os.WriteFile(privFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
		os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
		code, out, errOut := cli(t, env, "token", "sign", "-scheme", "cat", "-alg", "ES256", "-kid", "e1", "-key-file", privFile,
			"-ttl", "1h", "-url", "https://edge.example/live/a.m3u8")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		cfg := auth.Config{Scheme: "cat", CAT: &auth.CATConfig{Keys: []auth.KeyConfig{{ID: "e1", Alg: "ES256", KeyFile: pubFile}}}}
		if d := check(t, cfg, strings.TrimSpace(out), "192.0.2.9"); !d.OK {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if code, _, _ := cli(t, env, "token"); code != 2 {
			t.Fatalf("exit %d", code)
		}
		if code, _, errOut := cli(t, env, "token", "sign", "-scheme", "cat", "-kid", "k1"); code != 1 || !strings.Contains(errOut, "exactly one") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
}
