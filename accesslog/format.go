package accesslog

import (
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The built-in formats. Combined is nginx's, byte for byte; Edgecache,
// the default, adds the cache status and the three timings after it, so
// anything that reads combined (goaccess's COMBINED, an nginx pipeline's
// regexp anchored at the start) reads it unchanged.
const (
	Combined  = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`
	Edgecache = Combined + ` "$upstream_cache_status" $request_time $upstream_response_time $upstream_connect_time`
	JSON      = `escape=json {"time":"$time_iso8601","remote_addr":"$remote_addr","method":"$request_method",` +
		`"uri":"$request_uri","protocol":"$server_protocol","status":$status,"body_bytes_sent":$body_bytes_sent,` +
		`"request_time":$request_time,"cache_status":"$upstream_cache_status","upstream_addr":"$upstream_addr",` +
		`"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time",` +
		`"upstream_connect_time":"$upstream_connect_time","host":"$host","referer":"$http_referer",` +
		`"user_agent":"$http_user_agent","x_forwarded_for":"$http_x_forwarded_for","route":"$edge_route",` +
		`"class":"$edge_class","auth":"$edge_auth","cmcd_sid":"$cmcd_sid","cmcd_cid":"$cmcd_cid",` +
		`"cmcd_bs":"$cmcd_bs","cmcd_ot":"$cmcd_ot","cmcd_br":"$cmcd_br"}`
)

// builtins maps the names Config.Format accepts to their formats.
var builtins = map[string]string{"combined": Combined, "edgecache": Edgecache, "json": JSON}

// Escape is how a variable's value is written (nginx log_format escape=).
type Escape uint8

const (
	// EscapeDefault writes '"', '\' and bytes below 0x20 or from 0x7f up
	// as \xHH, and an empty value as "-", as nginx does by default.
	EscapeDefault Escape = iota
	// EscapeJSON writes a value as the inside of a JSON string: '"', '\'
	// and control bytes escaped, and, unlike nginx, invalid UTF-8 as
	// U+FFFD, so that every line is valid JSON. An empty value is empty.
	EscapeJSON
	// EscapeNone writes values as they are (an empty one as "-").
	EscapeNone
)

type variable uint8

const (
	vLiteral variable = iota
	vRemoteAddr
	vRemoteUser
	vTimeLocal
	vTimeISO8601
	vMsec
	vRequest
	vRequestMethod
	vRequestURI
	vURI
	vArgs
	vServerProtocol
	vStatus
	vBodyBytesSent
	vRequestTime
	vUpstreamResponseTime
	vUpstreamConnectTime
	vUpstreamStatus
	vUpstreamAddr
	vUpstreamCacheStatus
	vHost
	vHeader // $http_NAME
	vCMCDSID
	vCMCDCID
	vCMCDBS
	vCMCDOT
	vCMCDBR
	vEdgeRoute
	vEdgeClass
	vEdgeAuth
)

// variables are the names a format may use besides $http_NAME.
var variables = map[string]variable{
	"remote_addr":            vRemoteAddr,
	"remote_user":            vRemoteUser,
	"time_local":             vTimeLocal,
	"time_iso8601":           vTimeISO8601,
	"msec":                   vMsec,
	"request":                vRequest,
	"request_method":         vRequestMethod,
	"request_uri":            vRequestURI,
	"uri":                    vURI,
	"document_uri":           vURI,
	"args":                   vArgs,
	"query_string":           vArgs,
	"server_protocol":        vServerProtocol,
	"status":                 vStatus,
	"body_bytes_sent":        vBodyBytesSent,
	"bytes_sent":             vBodyBytesSent, // the edge counts body bytes only
	"request_time":           vRequestTime,
	"upstream_response_time": vUpstreamResponseTime,
	"upstream_connect_time":  vUpstreamConnectTime,
	"upstream_status":        vUpstreamStatus,
	"upstream_addr":          vUpstreamAddr,
	"upstream_cache_status":  vUpstreamCacheStatus,
	"host":                   vHost,
	"cmcd_sid":               vCMCDSID,
	"cmcd_cid":               vCMCDCID,
	"cmcd_bs":                vCMCDBS,
	"cmcd_ot":                vCMCDOT,
	"cmcd_br":                vCMCDBR,
	"edge_route":             vEdgeRoute,
	"edge_class":             vEdgeClass,
	"edge_auth":              vEdgeAuth,
}

// op is one piece of a compiled format: literal text, or a variable.
type op struct {
	v   variable
	lit string // the text of a vLiteral; the canonical header name of a vHeader
	sep string // how a vHeader joins several field lines
}

// Format is a compiled log_format. It is immutable and safe for
// concurrent use.
type Format struct {
	ops    []op
	escape Escape
}

// Lookup returns the built-in format named name ("combined", "edgecache",
// "json") or compiles name as a log_format when it contains a '$'. The
// empty name is "edgecache".
func Lookup(name string) (*Format, error) {
	if name == "" {
		name = "edgecache"
	}
	if s, ok := builtins[name]; ok {
		return Compile(s)
	}
	if !strings.Contains(name, "$") {
		return nil, fmt.Errorf("access log format %q: not a built-in name (combined, edgecache, json) nor a log_format with $variables", name)
	}
	return Compile(name)
}

// Compile compiles an nginx log_format string: literal text and $name or
// ${name} variables, optionally after "escape=default", "escape=json" or
// "escape=none" and a space. An unknown variable is an error naming it.
func Compile(s string) (*Format, error) {
	f := &Format{}
	for _, e := range [...]struct {
		prefix string
		escape Escape
	}{{"escape=default ", EscapeDefault}, {"escape=json ", EscapeJSON}, {"escape=none ", EscapeNone}} {
		if rest, ok := strings.CutPrefix(s, e.prefix); ok {
			s, f.escape = rest, e.escape
			break
		}
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.ops = append(f.ops, op{lit: lit.String()})
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
		var name string
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("access log format: unterminated ${ at byte %d", i)
			}
			name = s[i+2 : i+2+end]
			i += 3 + end
		} else {
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			name = s[i+1 : j]
			i = j
		}
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isNameChar(byte(r)) }) >= 0 {
			return nil, fmt.Errorf("access log format: invalid variable name %q after '$'", name)
		}
		o, err := compileVar(name)
		if err != nil {
			return nil, err
		}
		flush()
		f.ops = append(f.ops, o)
	}
	flush()
	return f, nil
}

func compileVar(name string) (op, error) {
	if v, ok := variables[name]; ok {
		return op{v: v}, nil
	}
	if h, ok := strings.CutPrefix(name, "http_"); ok && h != "" {
		// nginx's name mangling: $http_user_agent is the User-Agent field.
		canon := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(h, "_", "-"))
		sep := ", "
		if canon == "Cookie" {
			sep = "; "
		}
		return op{v: vHeader, lit: canon, sep: sep}, nil
	}
	return op{}, fmt.Errorf("access log format: unknown variable $%s", name)
}

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// Append formats r onto dst and returns the extended buffer. It allocates
// nothing beyond growing dst. It writes no newline.
func (f *Format) Append(dst []byte, r *Record) []byte {
	for i := range f.ops {
		o := &f.ops[i]
		if o.v == vLiteral {
			dst = append(dst, o.lit...)
			continue
		}
		dst = f.appendVar(dst, o, r)
	}
	return dst
}

// appendVar writes one variable. Numbers and times need no escaping; text
// goes through str.
func (f *Format) appendVar(dst []byte, o *op, r *Record) []byte {
	switch o.v {
	case vRemoteAddr:
		return f.str(dst, r.RemoteAddr)
	case vRemoteUser:
		return f.str(dst, "")
	case vTimeLocal:
		return r.end().AppendFormat(dst, "02/Jan/2006:15:04:05 -0700")
	case vTimeISO8601:
		return r.end().AppendFormat(dst, "2006-01-02T15:04:05-07:00")
	case vMsec:
		return appendMillis(dst, r.end().UnixMilli())
	case vRequest:
		if r.Method == "" && r.RequestURI == "" && r.Proto == "" {
			return f.str(dst, "")
		}
		dst = f.esc(dst, r.Method)
		dst = append(dst, ' ')
		dst = f.esc(dst, r.RequestURI)
		dst = append(dst, ' ')
		return f.esc(dst, r.Proto)
	case vRequestMethod:
		return f.str(dst, r.Method)
	case vRequestURI:
		return f.str(dst, r.RequestURI)
	case vURI:
		return f.str(dst, r.Path)
	case vArgs:
		_, q, _ := strings.Cut(r.RequestURI, "?")
		return f.str(dst, q)
	case vServerProtocol:
		return f.str(dst, r.Proto)
	case vStatus:
		return strconv.AppendInt(dst, int64(r.Status), 10)
	case vBodyBytesSent:
		return strconv.AppendInt(dst, max(r.BodyBytes, 0), 10)
	case vRequestTime:
		return appendSeconds(dst, r.RequestTime)
	case vUpstreamResponseTime:
		if r.Upstream == nil {
			return f.str(dst, "")
		}
		return appendSeconds(dst, r.Upstream.ResponseTime)
	case vUpstreamConnectTime:
		if r.Upstream == nil {
			return f.str(dst, "")
		}
		return appendSeconds(dst, r.Upstream.ConnectTime)
	case vUpstreamStatus:
		if r.Upstream == nil {
			return f.str(dst, "")
		}
		return strconv.AppendInt(dst, int64(r.Upstream.Status), 10)
	case vUpstreamAddr:
		if r.Upstream == nil {
			return f.str(dst, "")
		}
		return f.str(dst, r.Upstream.Addr)
	case vUpstreamCacheStatus:
		return f.str(dst, r.CacheStatus)
	case vHost:
		return f.str(dst, r.Host)
	case vHeader:
		vs := r.Header[o.lit]
		if len(vs) == 0 {
			return f.str(dst, "")
		}
		for i, v := range vs {
			if i > 0 {
				dst = append(dst, o.sep...)
			}
			dst = f.esc(dst, v)
		}
		return dst
	case vCMCDSID:
		return f.str(dst, r.CMCD.SID)
	case vCMCDCID:
		return f.str(dst, r.CMCD.CID)
	case vCMCDBS:
		if r.CMCD.BS {
			return append(dst, '1')
		}
		return f.str(dst, "")
	case vCMCDOT:
		return f.str(dst, r.CMCD.OT)
	case vCMCDBR:
		if r.CMCD.BR <= 0 {
			return f.str(dst, "")
		}
		return strconv.AppendInt(dst, int64(r.CMCD.BR), 10)
	case vEdgeRoute:
		return f.str(dst, r.Route)
	case vEdgeClass:
		return f.str(dst, r.Class)
	case vEdgeAuth:
		return f.str(dst, r.Auth)
	}
	return dst
}

// end is when the response was done: nginx's time variables are the time
// of the log write, which is the end of the request.
func (r *Record) end() time.Time { return r.Start.Add(r.RequestTime) }

// str writes a text value: escaped, or nginx's "-" for an empty one
// (nothing in JSON).
func (f *Format) str(dst []byte, s string) []byte {
	if s == "" {
		if f.escape == EscapeJSON {
			return dst
		}
		return append(dst, '-')
	}
	return f.esc(dst, s)
}

const hexDigits = "0123456789ABCDEF"

func (f *Format) esc(dst []byte, s string) []byte {
	switch f.escape {
	case EscapeNone:
		return append(dst, s...)
	case EscapeJSON:
		return appendJSON(dst, s)
	}
	// nginx ngx_http_log_escape: '"', '\' and bytes < 0x20 or >= 0x7f.
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// appendJSON writes s as the inside of a JSON string (RFC 8259 §7),
// replacing invalid UTF-8 with U+FFFD.
func appendJSON(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// appendSeconds writes d as nginx writes times: seconds with millisecond
// resolution ("0.012").
func appendSeconds(dst []byte, d time.Duration) []byte {
	return appendMillis(dst, max(d.Milliseconds(), 0))
}

func appendMillis(dst []byte, ms int64) []byte {
	if ms < 0 {
		dst = append(dst, '-')
		ms = -ms
	}
	dst = strconv.AppendInt(dst, ms/1000, 10)
	frac := ms % 1000
	return append(dst, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}
