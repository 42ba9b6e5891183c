package nginximport

import (
	"strings"
	"testing"

	"github.com/edgecache/edgecache/internal/nginxconf"
)

// TestOpen: every refusal the translation drops is in Result.Open, named
// by file and line; what it carries (a translated secure_link) or what
// refuses nothing is not.
func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		open      []string // each "line: directive", in order; nil: none
		reason    string   // part of the first one's reason
	}{
		{name: "deny all in a proxied location", src: inLocation("deny all;"), open: []string{"1: deny all"}, reason: "nginx refused these clients (in location /hls/)"},
		{name: "an allow list at the server", src: "server { allow 10.0.0.0/8; deny all; location /hls/ { proxy_pass http://o/hls/; } }",
			open: []string{"1: deny all"}, reason: "refused these clients, and the imported config serves these requests"},
		{name: "allow alone refuses nothing", src: inLocation("allow all;")},
		{name: "auth_basic", src: inLocation(`auth_basic "x"; auth_basic_user_file /etc/htpasswd;`), open: []string{`1: auth_basic x`}, reason: "credentials"},
		{name: "auth_basic off", src: inLocation("auth_basic off;")},
		// Inherited (nginx: a location without its own auth_basic takes
		// the level's above): one turned off in every location closes
		// nothing the edge serves.
		{name: "auth_basic at the server, off in every location", src: "server {\nauth_basic \"x\";\nlocation /a/ { auth_basic off; proxy_pass http://o/a/; }\nlocation /b/ { auth_basic off; proxy_pass http://o/b/; }\n}"},
		{name: "auth_basic at http, off in every location of every server", src: "http {\nauth_request /auth;\nserver { location /a/ { auth_request off; proxy_pass http://o/a/; } }\nserver { listen 81; location /b/ { auth_request off; proxy_pass http://o/b/; } }\n}"},
		{name: "auth_basic at the server, one location inherits it", src: "server {\nauth_basic \"x\";\nlocation /a/ { auth_basic off; proxy_pass http://o/a/; }\nlocation /b/ { proxy_pass http://o/b/; }\n}",
			open: []string{"2: auth_basic x"}},
		{name: "auth_basic at the server, off only in a nested location", src: "server {\nauth_basic \"x\";\nlocation /a/ { proxy_pass http://o/a/; location /a/b/ { auth_basic off; proxy_pass http://o/a/b/; } }\n}",
			open: []string{"2: auth_basic x"}},
		{name: "auth_basic at http, a server without locations inherits it", src: "http {\nauth_basic \"x\";\nserver { location / { auth_basic off; proxy_pass http://o/; } }\nserver { listen 81; }\n}",
			open: []string{"2: auth_basic x"}},
		{name: "auth_basic at the server, another turned on in a location", src: "server {\nauth_basic \"x\";\nlocation /a/ { auth_basic \"y\"; proxy_pass http://o/a/; }\n}",
			open: []string{`3: auth_basic y`}},
		{name: "auth_request", src: inLocation("auth_request /auth;"), open: []string{"1: auth_request /auth"}},
		{name: "internal", src: inLocation("internal;"), open: []string{"1: internal"}},
		{name: "a regex location that refuses keys", src: "server {\nlocation / { proxy_pass http://o/; }\nlocation ~* \\.key$ { return 403; }\n}",
			open: []string{"3: return 403"}, reason: `nginx answered 403 here (in location ~* \.key$)`},
		{name: "an exact location that hides a path", src: "server { location / { proxy_pass http://o/; } location = /admin { return 404; } }",
			open: []string{"1: return 404"}},
		{name: "a location without proxy_pass that refuses", src: "server {\nlocation / { proxy_pass http://o/; }\nlocation /private/ {\n  deny all;\n}\n}",
			open: []string{"4: deny all"}},
		{name: "a location without proxy_pass that closes", src: "server { location / { proxy_pass http://o/; } location /x/ { return 444; } }", open: []string{"1: return 444"}},
		{name: "hotlink protection", src: inLocation("valid_referers none *.example.com; if ($invalid_referer) { return 403; }"), open: []string{"1: return 403"}, reason: "(in if ($invalid_referer))"},
		{name: "methods refused", src: inLocation("limit_except GET HEAD { deny all; }"), open: []string{"1: deny all"}, reason: "(in limit_except GET HEAD)"},
		{name: "a redirect refuses nothing", src: "server { location / { proxy_pass http://o/; } location /old/ { return 301 /new/; } }"},
		{name: "a default server's 444 is not a location's", src: "server { listen 80 default_server; return 444; } server { location / { proxy_pass http://o/; } }"},
		{name: "secure_link translated", src: inLocation(`secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri k"; if ($secure_link = "") { return 403; } if ($secure_link = "0") { return 410; }`)},
		{name: "secure_link it cannot translate", src: inLocation(`secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri$binary_remote_addr k"; if ($secure_link = "") { return 403; }`),
			open: []string{"1: secure_link $arg_md5,$arg_expires", `1: secure_link_md5 "$secure_link_expires$uri$binary_remote_addr k"`, "1: return 403"}, reason: "signed link"},
		{name: "a secure_link check without secure_link refuses everything in nginx", src: inLocation(`if ($secure_link = "") { return 403; }`), open: []string{"1: return 403"}},
		// nginx takes no variable for the status ("invalid return code
		// \"$code\"", nginx -t): a quoted literal is the only other form.
		{name: "a quoted status", src: inLocation(`if ($http_user_agent ~ bot) { return "403" "go away"; }`), open: []string{`1: return 403 "go away"`}},
		{name: "a redirect to a variable's URL refuses nothing", src: "server { location / { proxy_pass http://o/; } location /old/ { return $scheme://example.com/new/; } }"},
		{name: "the CORS preflight's 204", src: inLocation("if ($request_method = OPTIONS) { add_header Access-Control-Allow-Origin *; return 204; }")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := nginxconf.Parse(nil, "f.conf", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Translate(ds)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range res.Open {
				got = append(got, strings.TrimPrefix(u.Where, "f.conf:")+": "+u.Directive)
			}
			if strings.Join(got, "\n") != strings.Join(tc.open, "\n") {
				t.Fatalf("open:\n%s\nwant:\n%s\n(untranslated: %v)", strings.Join(got, "\n"), strings.Join(tc.open, "\n"), res.Untranslated)
			}
			if tc.reason != "" && !strings.Contains(res.Open[0].Reason, tc.reason) {
				t.Errorf("reason %q lacks %q", res.Open[0].Reason, tc.reason)
			}
			// Every refusal says what dropping it costs.
			for _, o := range res.Open {
				if !strings.Contains(o.Reason, "imported config serves these requests") {
					t.Errorf("reason %q does not say what it costs", o.Reason)
				}
			}
		})
	}
}
