package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/edgecache/edgecache/auth"
	"github.com/edgecache/edgecache/auth/cat"
	"github.com/edgecache/edgecache/auth/securelink"
)

const tokenUsage = `usage:
  edgecache token sign -scheme cat -kid ID (-key HEX | -key-file F | -key-env VAR) [-alg HS256|ES256]
        [-iss ISSUER] [-ttl 1h | -exp EPOCH] [-catu 'path:prefix:/live/'...] [-methods GET,HEAD]
        [-ip CIDR...] [-renew header|cookie|automatic -renew-add 5m -renew-deadline 1m]
        [-replay once|detect] [-cti ID] [-url URL [-param CAT]]
  edgecache token sign -scheme secure_link -md5 EXPR [-link '$arg_md5,$arg_expires']
        [-secret S | -secret-env VAR | -secret-file F] (-url URL | -path PATH)
        [-ttl 1h | -expires EPOCH] [-ip ADDR] [-arg NAME=VALUE...]

CAT prints the token, or with -url the URL carrying it in the query.
secure_link prints the signed URL (or the query for -path).
`

// tokenMain runs "edgecache token ...": it mints the tokens and links the
// edge checks, for operators and tests.
func tokenMain(args []string, getenv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "sign" {
		fmt.Fprint(stderr, tokenUsage)
		return 2
	}
	out, err := tokenSign(args[1:], getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "edgecache token:", err)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func tokenSign(args []string, getenv func(string) (string, bool), _ io.Writer, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet("edgecache token sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	var (
		scheme  = fs.String("scheme", "", "cat or secure_link")
		rawURL  = fs.String("url", "", "the URL to sign (secure_link) or to put the token on (cat)")
		ttl     = fs.Duration("ttl", 0, "lifetime from now")
		ipFlags listFlag
		// cat
		kid      = fs.String("kid", "", "key id")
		alg      = fs.String("alg", "HS256", "HS256 or ES256")
		key      = fs.String("key", "", "key material: hex or base64:... for HS256")
		keyFile  = fs.String("key-file", "", "file with the key (PEM private key for ES256)")
		keyEnv   = fs.String("key-env", "", "environment variable with the key")
		iss      = fs.String("iss", "", "issuer")
		exp      = fs.Int64("exp", 0, "expiry, epoch seconds")
		methods  = fs.String("methods", "", "catm: allowed methods, comma-separated")
		replay   = fs.String("replay", "", "catreplay: once or detect")
		cti      = fs.String("cti", "", "token id (cti)")
		renew    = fs.String("renew", "", "catr type: header, cookie or automatic")
		renewAdd = fs.Duration("renew-add", 5*time.Minute, "catr expadd")
		renewDl  = fs.Duration("renew-deadline", time.Minute, "catr deadline")
		param    = fs.String("param", "CAT", "query parameter for -url")
		catu     listFlag
		// secure_link
		md5Expr    = fs.String("md5", "", "secure_link_md5 expression")
		linkExpr   = fs.String("link", "", "secure_link expression (default $arg_md5,$arg_expires)")
		secret     = fs.String("secret", "", "value of $secure_link_secret")
		secretEnv  = fs.String("secret-env", "", "environment variable holding $secure_link_secret")
		secretFile = fs.String("secret-file", "", "file holding $secure_link_secret")
		path       = fs.String("path", "", "the path ($uri) when no -url is given")
		expires    = fs.Int64("expires", 0, "expiry, epoch seconds")
		argFlags   listFlag
	)
	fs.Var(&ipFlags, "ip", "cat: catnip prefix or address (repeatable); secure_link: $remote_addr")
	fs.Var(&catu, "catu", "cat: URI rule COMPONENT:MATCH:VALUE, e.g. path:prefix:/live/ (repeatable)")
	fs.Var(&argFlags, "arg", "secure_link: NAME=VALUE for $arg_NAME (repeatable)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d := auth.Deps{LookupEnv: getenv, ReadFile: os.ReadFile}
	now := time.Now()
	switch *scheme {
	case "cat":
		material, err := oneOf(d, "key", *key, *keyFile, *keyEnv)
		if err != nil {
			return "", err
		}
		k, err := auth.ParseKey(*kid, *alg, material)
		if err != nil {
			return "", err
		}
		c := &cat.Claims{Issuer: *iss, Expires: *exp, ID: []byte(*cti)}
		if *ttl > 0 {
			c.Expires = now.Add(*ttl).Unix()
		}
		if *methods != "" {
			c.Methods = strings.Split(*methods, ",")
		}
		switch *replay {
		case "":
		case "once":
			c.Replay, c.HasReplay = cat.ReplayProhibited, true
		case "detect":
			c.Replay, c.HasReplay = cat.ReplayDetect, true
		default:
			return "", fmt.Errorf("-replay %q: want once or detect", *replay)
		}
		for _, s := range ipFlags {
			for _, one := range strings.Split(s, ",") {
				p, err := parsePrefix(one)
				if err != nil {
					return "", err
				}
				c.NetIP = append(c.NetIP, p)
			}
		}
		for _, s := range catu {
			r, err := parseCatu(s)
			if err != nil {
				return "", err
			}
			c.URI = append(c.URI, r)
		}
		if *renew != "" {
			typ, ok := map[string]cat.RenewalType{"automatic": cat.RenewAutomatic, "cookie": cat.RenewCookie, "header": cat.RenewHeader}[*renew]
			if !ok {
				return "", fmt.Errorf("-renew %q: want header, cookie or automatic", *renew)
			}
			c.Renewal = &cat.Renewal{Type: typ, ExpAdd: int64(renewAdd.Seconds()), Deadline: int64(renewDl.Seconds()), HasDeadline: true}
		}
		tok, err := cat.Sign(c, k)
		if err != nil {
			return "", err
		}
		if *rawURL == "" {
			return tok, nil
		}
		u, err := url.Parse(*rawURL)
		if err != nil {
			return "", err
		}
		return withQuery(u, *param+"="+tok), nil
	case "secure_link":
		sec := ""
		if *secret != "" || *secretEnv != "" || *secretFile != "" {
			var err error
			if sec, err = oneOf(d, "secret", *secret, *secretFile, *secretEnv); err != nil {
				return "", err
			}
		}
		l, err := securelink.Compile(securelink.Config{Link: *linkExpr, MD5: *md5Expr, Secret: sec})
		if err != nil {
			return "", err
		}
		sr := securelink.SignRequest{Path: *path, Expires: *expires, Args: url.Values{}}
		if *ttl > 0 {
			sr.Expires = now.Add(*ttl).Unix()
		}
		var u *url.URL
		if *rawURL != "" {
			if u, err = url.Parse(*rawURL); err != nil {
				return "", err
			}
			sr.Path, sr.Host, sr.Scheme = u.Path, u.Host, u.Scheme
			for k, v := range u.Query() {
				sr.Args[k] = v
			}
		}
		if sr.Path == "" {
			return "", errors.New("secure_link: give -url or -path")
		}
		for _, a := range argFlags {
			n, v, ok := strings.Cut(a, "=")
			if !ok {
				return "", fmt.Errorf("-arg %q: want NAME=VALUE", a)
			}
			sr.Args.Set(n, v)
		}
		if len(ipFlags) > 1 {
			return "", errors.New("secure_link: one -ip at most")
		}
		if len(ipFlags) == 1 {
			if sr.ClientIP, err = netip.ParseAddr(ipFlags[0]); err != nil {
				return "", err
			}
		}
		q, err := l.Sign(sr)
		if err != nil {
			return "", err
		}
		if u == nil {
			return q, nil
		}
		// Sign wrote the $arg_ values the expression reads; drop them
		// from the URL's own query so they are not there twice.
		own := u.Query()
		for _, n := range strings.Split(q, "&") {
			name, _, _ := strings.Cut(n, "=")
			own.Del(name)
		}
		u.RawQuery = own.Encode()
		return withQuery(u, q), nil
	}
	fs.Usage()
	return "", fmt.Errorf("-scheme %q: want cat or secure_link", *scheme)
}

func oneOf(d auth.Deps, what, inline, file, env string) (string, error) {
	switch {
	case inline != "" && file == "" && env == "":
		return inline, nil
	case file != "" && inline == "" && env == "":
		b, err := d.ReadFile(file)
		return strings.TrimSpace(string(b)), err
	case env != "" && inline == "" && file == "":
		v, ok := d.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return strings.TrimSpace(v), nil
	}
	return "", fmt.Errorf("give exactly one of -%s, -%s-file, -%s-env", what, what, what)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseCatu reads COMPONENT:MATCH:VALUE ("path:prefix:/live/").
func parseCatu(s string) (cat.URIRule, error) {
	comp, rest, ok1 := strings.Cut(s, ":")
	mt, val, ok2 := strings.Cut(rest, ":")
	c, okc := cat.ParseURIComponent(comp)
	m, okm := cat.ParseMatchType(mt)
	if !ok1 || !ok2 || !okc || !okm {
		return cat.URIRule{}, fmt.Errorf("-catu %q: want COMPONENT:MATCH:VALUE (components scheme, host, port, path, query, parent-path, filename, stem, extension; matches exact, prefix, suffix, contains, regex, sha256, sha512-256)", s)
	}
	if m == cat.MatchSHA256 || m == cat.MatchSHA512256 {
		b, err := hexString(val)
		if err != nil {
			return cat.URIRule{}, fmt.Errorf("-catu %q: hash must be hex", s)
		}
		val = b
	}
	return cat.URIRule{Component: c, Matches: []cat.Match{{Type: m, Value: val}}}, nil
}

func hexString(s string) (string, error) {
	if len(s)%2 != 0 {
		return "", errors.New("odd length")
	}
	b := make([]byte, len(s)/2)
	for i := range b {
		n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return "", err
		}
		b[i] = byte(n)
	}
	return string(b), nil
}

func withQuery(u *url.URL, q string) string {
	if u.RawQuery == "" {
		u.RawQuery = q
	} else {
		u.RawQuery += "&" + q
	}
	return u.String()
}
