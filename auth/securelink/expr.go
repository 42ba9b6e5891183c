package securelink

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// varKind is a variable an expression may use.
type varKind uint8

const (
	varLiteral    varKind = iota
	varURI                // $uri: the normalised path, no query
	varExpires            // $secure_link_expires: the expiry text as sent
	varRemoteAddr         // $remote_addr
	varArg                // $arg_NAME: the raw query value (nginx matches names case-insensitively)
	varHTTP               // $http_NAME: a request header, '_' for '-'
	varHost               // $host: the Host without port, lower case
	varScheme             // $scheme
	varSecret             // $secure_link_secret: Config.Secret, so the secret can live outside the expression
)

type part struct {
	kind varKind
	text string // literal text, or the NAME of $arg_NAME / $http_NAME
}

// expr is a compiled nginx complex value: literal text and variables
// ("$name" or "${name}"), as in ngx_http_script's compile step.
type expr []part

func compile(s string) (expr, error) {
	var e expr
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			e = append(e, part{kind: varLiteral, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		braced := i < len(s) && s[i] == '{'
		if braced {
			i++
		}
		j := i
		for j < len(s) && isNameChar(s[j]) {
			j++
		}
		name := s[i:j]
		if braced {
			if j >= len(s) || s[j] != '}' {
				return nil, fmt.Errorf("securelink: %q: unterminated ${", s)
			}
			j++
		}
		if name == "" {
			return nil, fmt.Errorf("securelink: %q: '$' without a variable name", s)
		}
		p, err := variable(name)
		if err != nil {
			return nil, fmt.Errorf("securelink: %q: %w", s, err)
		}
		flush()
		e = append(e, p)
		i = j
	}
	flush()
	return e, nil
}

func isNameChar(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func variable(name string) (part, error) {
	switch name {
	case "uri", "document_uri":
		return part{kind: varURI}, nil
	case "secure_link_expires":
		return part{kind: varExpires}, nil
	case "remote_addr", "binary_remote_addr":
		if name == "binary_remote_addr" {
			return part{}, fmt.Errorf("$binary_remote_addr is not supported; use $remote_addr")
		}
		return part{kind: varRemoteAddr}, nil
	case "host":
		return part{kind: varHost}, nil
	case "scheme":
		return part{kind: varScheme}, nil
	case "secure_link_secret":
		return part{kind: varSecret}, nil
	}
	if n, ok := strings.CutPrefix(name, "arg_"); ok && n != "" {
		return part{kind: varArg, text: n}, nil
	}
	if n, ok := strings.CutPrefix(name, "http_"); ok && n != "" {
		return part{kind: varHTTP, text: strings.ReplaceAll(n, "_", "-")}, nil
	}
	return part{}, fmt.Errorf("unsupported variable $%s", name)
}

// env is what an expression is evaluated against.
type env struct {
	path     string
	rawQuery string
	expires  string
	client   netip.Addr
	header   http.Header
	host     string
	scheme   string
	secret   string
}

func (e expr) appendTo(dst []byte, v *env) []byte {
	for _, p := range e {
		switch p.kind {
		case varLiteral:
			dst = append(dst, p.text...)
		case varURI:
			dst = append(dst, v.path...)
		case varExpires:
			dst = append(dst, v.expires...)
		case varRemoteAddr:
			if v.client.IsValid() {
				dst = v.client.Unmap().AppendTo(dst)
			}
		case varArg:
			a, _ := arg(v.rawQuery, p.text)
			dst = append(dst, a...)
		case varHTTP:
			if v.header != nil {
				dst = append(dst, v.header.Get(p.text)...)
			}
		case varHost:
			h := v.host
			if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
				h = h[:i]
			}
			dst = append(dst, strings.ToLower(h)...)
		case varScheme:
			dst = append(dst, v.scheme...)
		case varSecret:
			dst = append(dst, v.secret...)
		}
	}
	return dst
}

// arg finds the raw value of the first query parameter named name,
// case-insensitively, as nginx's ngx_http_arg does.
func arg(rawQuery, name string) (string, bool) {
	q := rawQuery
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, val, _ := strings.Cut(kv, "=")
		if strings.EqualFold(k, name) {
			return val, true
		}
	}
	return "", false
}

func (e expr) argNames() []string {
	var out []string
	for _, p := range e {
		if p.kind == varArg {
			out = append(out, p.text)
		}
	}
	return out
}
