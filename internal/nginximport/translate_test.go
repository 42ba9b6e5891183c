package nginximport

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/internal/nginxconf"
)

// inLocation is a config of one server whose one location, /hls/,
// proxies to http://o/hls/ and has the directives s besides.
func inLocation(s string) string {
	return "server { listen 80; location /hls/ { proxy_pass http://o/hls/; " + s + " } }"
}

// TestTranslate: one case per rule. yaml and stderr list parts the output
// must have (stderr "" means nothing untranslated); not lists parts the
// YAML must not have.
func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		yaml      []string
		not       []string
		stderr    []string
		err       error
	}{
		{name: "proxy_pass with a URI replaces the prefix", src: "server { location /a/ { proxy_pass http://o:8080/b/; } }",
			yaml: []string{"prefix: /a/\n    origin: http://o:8080/b/\n"}},
		{name: "proxy_pass without a URI passes the path", src: "server { location /a/ { proxy_pass http://o:8080; } }",
			yaml: []string{"origin: http://o:8080/a/\n", "passes the whole path"}},
		{name: "a prefix gets its slash", src: "server { location /a { proxy_pass http://o/a; } }",
			yaml: []string{"prefix: /a/\n"}},
		{name: "upstream of several servers: the route's origins, as nginx balances them", src: "upstream u { server a:1; server b:2; server c:3 backup; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"origins_mode: round_robin", "origins_health: {failures: 1, backoff: 10s}", "- url: http://a:1/\n", "- url: http://b:2/\n", "- url: http://c:3/\n        role: backup\n"},
			not:  []string{"origin: "}},
		{name: "upstream weights, max_fails and fail_timeout", src: "upstream u { server a:1 weight=5 max_fails=3 fail_timeout=30s; server b:2 max_fails=3 fail_timeout=30s; } server { location /live/ { proxy_pass http://u; } }",
			yaml: []string{"origins_health: {failures: 3, backoff: 30s}", "- url: http://a:1/live/\n        weight: 5\n", "- url: http://b:2/live/\n"}},
		{name: "upstream: a backup that says nothing takes the primary's max_fails", src: "upstream u { server a:1 max_fails=3 fail_timeout=30s; server b:2 backup; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"origins_health: {failures: 3, backoff: 30s}"}},
		{name: "upstream servers disagree on max_fails", src: "upstream u { server a:1 max_fails=2; server b:2 max_fails=5; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"failures: 2"}, stderr: []string{"server b:2 max_fails=5: max_fails and fail_timeout are one setting for the route (origins_health): a:1's are kept"}},
		{name: "upstream max_fails=0", src: "upstream u { server a:1 max_fails=0; server b:2 max_fails=0; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"backoff: 10s"}, not: []string{"failures:"}, stderr: []string{"max_fails=0: passive health cannot be turned off"}},
		{name: "upstream hash on the URI", src: "upstream u { hash $request_uri consistent; server a:1; server b:2; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"origins_mode: hash", "hashes each request's cache key"}},
		{name: "upstream hash on something else", src: "upstream u { hash $remote_addr; server a:1; server b:2; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"origins_mode: hash"}, stderr: []string{"hash $remote_addr: the edge hashes each request's cache key (its path and query), not $remote_addr"}},
		{name: "upstream least_conn", src: "upstream u { least_conn; zone u 64k; server a:1; server b:2; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"origins_mode: round_robin"}, stderr: []string{"least_conn: no such balancing"}},
		{name: "upstream server down, on a socket, or with max_conns", src: "upstream u { server a:1 max_conns=10; server b:2 down; server unix:/run/o.sock; } server { location / { proxy_pass http://u/; } }",
			yaml: []string{"origin: http://a:1/\n"}, not: []string{"origins"},
			stderr: []string{"server a:1 max_conns=10: max_conns: no equivalent", "server b:2 down: a server marked down is left out", "server unix:/run/o.sock: unix sockets"}},
		{name: "upstream with no reachable server", src: "upstream u { server unix:/run/o.sock; } server { location / { proxy_pass http://u/; } }",
			stderr: []string{"upstream u has no server the edge can reach"}, err: ErrNoRoutes},
		{name: "variables in proxy_pass", src: "server { location /a/ { proxy_pass http://$host; } }", stderr: []string{"variables in proxy_pass"}, err: ErrNoRoutes},
		{name: "exact and regex locations", src: inLocation("") + " server { location = /x { proxy_pass http://o; } location ~ \\.ts$ { proxy_pass http://o; } }",
			stderr: []string{"location = /x: exact-match", `location ~ \.ts$: regex locations`, "several server blocks"}},
		{name: "200 to every class, 404 capped", src: inLocation("proxy_cache_valid 200 10s; proxy_cache_valid 404 1m;"),
			yaml: []string{"manifest:\n    ttl: 10s\n    stale_while_updating: 1s", "segment:\n    ttl: 10s\n", "404: 2s", "capped from 1m to 2s", "lifetime derived from the"}},
		{name: "a short 404 is kept", src: inLocation("proxy_cache_valid 404 1s;"), yaml: []string{"404: 1s"}, not: []string{"capped", "classes:"}},
		{name: "5xx capped too", src: inLocation("proxy_cache_valid 502 503 30s;"), yaml: []string{"502: 2s", "503: 2s"}},
		{name: "no codes: 200 301 302", src: inLocation("proxy_cache_valid 5m;"), yaml: []string{"ttl: 5m", "301: 5m", "302: 5m"}},
		{name: "any", src: inLocation("proxy_cache_valid 200 10s; proxy_cache_valid any 1m;"), yaml: []string{"ttl: 10s", "301: 1m", "404: 2s", "5xx are not cached"}},
		{name: "nginx units", src: inLocation("proxy_cache_valid 200 1h30m; proxy_connect_timeout 500ms; proxy_read_timeout 90;"),
			yaml: []string{"ttl: 1h30m", "connect_timeout: 500ms", "idle_timeout: 1m30s"}},
		{name: "TTLs differ between locations", src: "server { location /a/ { proxy_pass http://o; proxy_cache_valid 200 1s; } location /b/ { proxy_pass http://o; proxy_cache_valid 200 2s; } }",
			yaml: []string{"ttl: 1s"}, stderr: []string{"proxy_cache_valid 200 2s: TTLs are one setting"}},
		{name: "TTLs inherited from the server", src: "server { proxy_cache_valid 200 3s; location /a/ { proxy_pass http://o; } location /b/ { proxy_pass http://o; } }",
			yaml: []string{"ttl: 3s"}},
		{name: "X-Cache-Status is built in", src: inLocation("add_header X-Cache-Status $upstream_cache_status;"), yaml: []string{"built in, every response carries"}, not: []string{"response_headers"}},
		{name: "add_header always", src: inLocation("add_header X-A \"b c\" always;"), yaml: []string{"response_headers:\n      X-A: \"b c\""}, not: []string{"without always"}},
		{name: "add_header without always", src: inLocation("add_header X-A b;"), yaml: []string{"X-A: \"b\"", "without always nginx set it on 2xx and 3xx only"}},
		{name: "add_header with a variable", src: inLocation("add_header X-Host $host;"), stderr: []string{"add_header X-Host $host: variables in header values"}},
		{name: "add_header inherited whole, or replaced", src: "server { add_header X-S s always; location /a/ { proxy_pass http://o; } location /b/ { proxy_pass http://o; add_header X-L l always; } }",
			yaml: []string{"prefix: /a/\n    origin: http://o/a/\n    # add_header ... always: set on every response of the route, replacing the\n    # origin's value\n    response_headers:\n      X-S: \"s\"", "prefix: /b/\n    origin: http://o/b/\n    # add_header ... always: set on every response of the route, replacing the\n    # origin's value\n    response_headers:\n      X-L: \"l\""}},
		{name: "cors", src: inLocation("add_header Access-Control-Allow-Origin https://player.example; add_header Access-Control-Allow-Headers 'Range, X-A'; add_header Access-Control-Allow-Credentials true; add_header Access-Control-Max-Age 3600;"),
			yaml: []string{"allow_origins: [\"https://player.example\"]", "allow_headers: [\"Range\", \"X-A\"]", "allow_credentials: true", "max_age: 1h"}},
		{name: "cors the edge refuses", src: inLocation("add_header Access-Control-Allow-Origin *; add_header Access-Control-Allow-Credentials true;"),
			stderr: []string{"allow_credentials needs explicit origins"}, not: []string{"cors:"}},
		{name: "a header the edge owns", src: inLocation("add_header Age 5 always;"), stderr: []string{`add_header Age 5 always: response_headers: "Age" cannot be set`}, not: []string{"response_headers:"}},
		{name: "origin_host not a host", src: inLocation("proxy_set_header Host a/b;"), stderr: []string{"neither $host nor a host name"}},
		{name: "cors with a variable", src: inLocation("add_header Access-Control-Allow-Origin $http_origin;"), stderr: []string{"cors.allow_origins"}},
		{name: "Host $host", src: inLocation("proxy_set_header Host $host;"), yaml: []string{`origin_host: "$host"`}},
		{name: "Host $http_host", src: inLocation("proxy_set_header Host $http_host;"), yaml: []string{`origin_host: "$host"`}},
		{name: "Host literal", src: inLocation("proxy_set_header Host origin.internal;"), yaml: []string{`origin_host: "origin.internal"`}},
		{name: "Host $proxy_host is the default", src: inLocation("proxy_set_header Host $proxy_host;"), not: []string{"origin_host:"}},
		{name: "Host other variable", src: inLocation("proxy_set_header Host $server_name;"), stderr: []string{"origin_host is the viewer's Host"}},
		{name: "fixed header to the origin", src: inLocation("proxy_set_header X-Token abc;"), yaml: []string{"origin_headers:\n      X-Token: \"abc\""}},
		{name: "viewer header forwarded", src: inLocation("proxy_set_header X-Device $http_x_device;"), yaml: []string{`forward_headers: ["X-Device"]`}},
		{name: "edge-owned header", src: inLocation("proxy_set_header Via edge;"), stderr: []string{"the edge sets Via itself"}},
		{name: "X-Forwarded-For is built in", src: inLocation("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"), yaml: []string{"appends the client address"}},
		{name: "other variables", src: inLocation("proxy_set_header X-Real-IP $remote_addr;"), stderr: []string{"X-Real-IP $remote_addr: variables have no equivalent"}},
		{name: "sub_filter of the origin", src: inLocation("sub_filter 'http://o/hls/' 'http://$host/hls/';"), yaml: []string{"rewritten to edge paths"}},
		{name: "other sub_filter", src: inLocation("sub_filter 'foo' 'bar';"), stderr: []string{"sub_filter foo bar: body rewriting"}},
		{name: "built ins", src: inLocation("proxy_cache_lock on; proxy_cache_use_stale updating; proxy_cache_background_update on; proxy_buffering on; proxy_cache z; proxy_http_version 1.1;"),
			yaml: []string{"- proxy_cache_lock on", "- proxy_cache_use_stale updating", "- proxy_cache_background_update on", "- proxy_buffering on", "- proxy_cache z", "- proxy_http_version 1.1"}},
		{name: "secure_link with nginx's checks", src: inLocation(`secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri$remote_addr secret"; if ($secure_link = "") { return 403; } if ($secure_link = "0") { return 410; }`),
			yaml: []string{"auth:\n      scheme: secure_link\n      secure_link:\n        link: \"$arg_md5,$arg_expires\"\n        md5: \"$secure_link_expires$uri$remote_addr secret\"\n",
				"a missing or wrong hash gets 403, an expired link 410", "put $secure_link_secret in its place and add secret_env", `{ return 403; } (f.conf:1): what auth does`, `{ return 410; } (f.conf:1): what auth does`},
			not: []string{"served", "NOT PROTECTED"}},
		{name: "secure_link check with !", src: inLocation(`secure_link $arg_h; secure_link_md5 "$uri k"; if (!$secure_link) { return 403; } if ($secure_link = 0) { return 410; }`),
			yaml: []string{`link: "$arg_h"`, `md5: "$uri k"`}},
		{name: "secure_link inherited each on its own", src: `server { secure_link $arg_s,$arg_e; secure_link_md5 "$secure_link_expires$uri a"; location /a/ { proxy_pass http://o; } location /b/ { proxy_pass http://o; secure_link_md5 "$uri$arg_e b"; } location /c/ { proxy_pass http://o; secure_link_secret s; } }`,
			yaml:   []string{"prefix: /a/", `md5: "$secure_link_expires$uri a"`, `md5: "$uri$arg_e b"`, `link: "$arg_s,$arg_e"`, "WARNING: NOT PROTECTED"},
			stderr: []string{"secure_link_secret s: WARNING: route /c/ gets no auth and is OPEN to every viewer: secure_link_secret"}},
		{name: "secure_link_secret of the server gives way to a location's secure_link", src: `server { secure_link_secret s; location /a/ { proxy_pass http://o; secure_link $arg_h; secure_link_md5 "$uri k"; } }`,
			yaml: []string{`link: "$arg_h"`, `md5: "$uri k"`}, not: []string{"NOT PROTECTED"}},
		{name: "secure_link_secret of the server is inherited", src: `server { secure_link_secret s; location /a/ { proxy_pass http://o; } }`,
			stderr: []string{"secure_link_secret s: WARNING: route /a/ gets no auth"}, yaml: []string{"NOT PROTECTED"}},
		{name: "secure_link without the 410 check", src: inLocation(`secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri x"; if ($secure_link = "") { return 403; }`),
			yaml: []string{"so it served expired links: the edge refuses them with 410"}},
		{name: "secure_link without any check", src: inLocation(`secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri x";`),
			yaml: []string{"served every request: the edge enforces the link"}},
		{name: "secure_link with $binary_remote_addr", src: inLocation(`secure_link $arg_md5,$arg_expires; secure_link_md5 "$secure_link_expires$uri$binary_remote_addr x"; if ($secure_link = "") { return 403; }`),
			stderr: []string{`secure_link_md5 "$secure_link_expires$uri$binary_remote_addr x": WARNING: route /hls/ gets no auth and is OPEN to every viewer:`, "$binary_remote_addr is not supported",
				`if ($secure_link = "" ): WARNING: route /hls/ gets no auth: the secure_link it checks is not translated`},
			yaml: []string{"WARNING: NOT PROTECTED. nginx checked secure_link for this location"}, not: []string{"auth:"}},
		{name: "secure_link with an unsupported variable", src: inLocation(`secure_link $arg_md5; secure_link_md5 "$request_uri x";`),
			stderr: []string{"WARNING: route /hls/ gets no auth", "unsupported variable $request_uri"}, not: []string{"auth:"}},
		{name: "secure_link_secret", src: inLocation(`secure_link_secret s3cr3t; if ($secure_link = "") { return 403; }`),
			stderr: []string{"secure_link_secret s3cr3t: WARNING: route /hls/ gets no auth and is OPEN", "the hash in the path"}, yaml: []string{"NOT PROTECTED"}, not: []string{"auth:"}},
		{name: "secure_link without secure_link_md5", src: inLocation(`secure_link $arg_md5,$arg_expires;`),
			stderr: []string{"WARNING: route /hls/ gets no auth", "go together"}, not: []string{"auth:"}},
		{name: "secure_link if that answers otherwise", src: inLocation(`secure_link $arg_md5; secure_link_md5 "$uri x"; if ($secure_link = "") { return 404; }`),
			stderr: []string{`if ($secure_link = "" ): conditionals have no equivalent`}, yaml: []string{"auth:"}},
		{name: "other if", src: inLocation(`if ($http_x = a) { return 403; }`), stderr: []string{"conditionals have no equivalent"}},
		{name: "secure_link check without secure_link", src: inLocation(`if ($secure_link = "") { return 403; }`), stderr: []string{"$secure_link without secure_link"}, not: []string{"auth:"}},
		{name: "log_format with escape=json", src: `log_format j escape=json '{"a":"$remote_addr",' '"s":$status}'; access_log /dev/stdout j; server { location / { proxy_pass http://o; } }`,
			yaml: []string{`format: "escape=json {\"a\":\"$remote_addr\",\"s\":$status}"`}},
		{name: "log_format with escape=none", src: `log_format n escape=none '$remote_addr $status'; access_log /dev/stdout n; server { location / { proxy_pass http://o; } }`,
			yaml: []string{`format: "escape=none $remote_addr $status"`}},
		{name: "log_format with a variable the access log lacks", src: `log_format g '$remote_addr $geoip_country_code'; access_log /var/log/a.log g buffer=64k flush=5s; server { location / { proxy_pass http://o; } }`,
			stderr: []string{"f.conf:1: log_format g \"$remote_addr $geoip_country_code\": access_log.format: access log format: unknown variable $geoip_country_code: the access log uses its default format"},
			yaml:   []string{"path: /var/log/a.log", "the default format is used", "buffer=64k: not carried over: nginx's buffer is bytes, access_log.buffer counts records", "flush=5s: not needed"},
			not:    []string{"  format:", "  buffer:"}},
		{name: "listen forms", src: "server { listen 127.0.0.1:8080 default_server; location / { proxy_pass http://o; } }", yaml: []string{`listen: "127.0.0.1:8080"`}},
		{name: "listen sndbuf", src: "server { listen 8080 sndbuf=256k; location / { proxy_pass http://o; } }", yaml: []string{"send_buffer: 256k"}},
		{name: "sndbuf of a listener not kept", src: "server { listen 80; listen 8080 sndbuf=256k; location / { proxy_pass http://o; } }", stderr: []string{"listen 8080 sndbuf=256k: the edge listens on one address"}, not: []string{"send_buffer"}},
		{name: "sndbuf of a unix listener", src: "server { listen unix:/run/x.sock sndbuf=256k; location / { proxy_pass http://o; } }", stderr: []string{"not a TCP address"}, not: []string{"send_buffer"}},
		{name: "sndbuf of the IPv6 twin", src: "server { listen 80; listen [::]:80 sndbuf=256k; location / { proxy_pass http://o; } }", yaml: []string{"send_buffer: 256k"}},
		{name: "listen bad sndbuf", src: "server { listen 8080 sndbuf=lots; location / { proxy_pass http://o; } }", stderr: []string{"sndbuf=lots: bad size"}, not: []string{"send_buffer"}},
		{name: "listen ssl", src: "server { listen 443 ssl; location / { proxy_pass http://o; } }", stderr: []string{"listen 443 ssl: TLS"}, not: []string{"listen:"}},
		{name: "two listeners", src: "server { listen 80; listen 8080; location / { proxy_pass http://o; } }", stderr: []string{"listen 8080: the edge listens on one address"}},
		{name: "client limits", src: "http { client_header_timeout 5s; keepalive_timeout 1m; send_timeout 10s; large_client_header_buffers 2 1k; server { location / { proxy_pass http://o; } } }",
			yaml: []string{"read_header_timeout: 5s", "idle_timeout: 1m", "write_idle_timeout: 10s", "max_header_bytes: 8k"}},
		{name: "request body limits", src: "http { client_max_body_size 10m; client_body_timeout 30s; server { location / { proxy_pass http://o; } } }",
			yaml: []string{"max_body_bytes: 10m", "body_timeout: 30s"}},
		{name: "request body limit off", src: "http { client_max_body_size 0; server { location / { proxy_pass http://o; } } }",
			yaml: []string{`max_body_bytes: "0"`}},
		{name: "request body limits differ per location", src: "http { client_max_body_size 1m; server { location / { proxy_pass http://o; } location /up/ { client_max_body_size 50m; proxy_pass http://o; } } }",
			yaml: []string{"max_body_bytes: 1m"}, stderr: []string{"client_max_body_size 50m: client.max_body_bytes is one setting for the whole edge"}},
		{name: "send timeout", src: "http { proxy_send_timeout 20s; server { location / { proxy_pass http://o; } } }",
			yaml: []string{"idle_timeout: 20s"}},
		{name: "send timeout differs from read timeout", src: "http { proxy_read_timeout 30s; proxy_send_timeout 20s; server { location / { proxy_pass http://o; } } }",
			yaml: []string{"idle_timeout: 30s"}, stderr: []string{"proxy_send_timeout 20s: origin.idle_timeout is one setting for the whole edge"}},
		{name: "request buffering off", src: "http { proxy_request_buffering off; client_max_body_size 100m; server { location / { proxy_pass http://o; } } }",
			yaml: []string{"stream_bodies: true", "max_body_bytes: 100m"}, not: []string{"body_buffer_bytes"}},
		{name: "request buffering on", src: "http { proxy_request_buffering on; server { location / { proxy_pass http://o; } } }",
			not: []string{"stream_bodies"}},
		{name: "request buffering differs per location", src: "http { server { location / { proxy_pass http://o; } location /up/ { proxy_request_buffering off; proxy_pass http://o; } } }",
			yaml: []string{"stream_bodies: true"}},
		{name: "request body longer than the body buffer", src: "http { client_max_body_size 100m; server { location / { proxy_pass http://o; } } }",
			yaml: []string{"max_body_bytes: 100m", "body_buffer_bytes: 100m"}},
		{name: "request body bad size", src: "client_max_body_size lots; server { location / { proxy_pass http://o; } }", stderr: []string{"client_max_body_size lots: bad size"}, not: []string{"max_body_bytes"}},
		{name: "keep-alive off", src: "keepalive_timeout 0; server { location / { proxy_pass http://o; } }", stderr: []string{"keep-alive cannot be turned off"}},
		{name: "real ip", src: "set_real_ip_from 10.0.0.0/8; set_real_ip_from 2001:db8::1; real_ip_header X-Forwarded-For; server { location / { proxy_pass http://o; } }",
			yaml: []string{`trusted_proxies: ["10.0.0.0/8", "2001:db8::1/128"]`}, not: []string{"X-Real-IP"}},
		{name: "real ip from X-Real-IP", src: "set_real_ip_from 10.0.0.0/8; real_ip_header X-Real-IP; server { location / { proxy_pass http://o; } }",
			stderr: []string{"real_ip_header X-Real-IP: only X-Forwarded-For"}},
		{name: "access log off", src: "access_log off; server { location / { proxy_pass http://o; } }", yaml: []string{"access_log:\n  path: off"}},
		{name: "access log combined to a file", src: "access_log /var/log/nginx/access.log; server { location / { proxy_pass http://o; } }",
			yaml: []string{"path: /var/log/nginx/access.log", `format: "combined"`}},
		{name: "access log unknown format", src: "access_log /dev/stderr nope; server { location / { proxy_pass http://o; } }", stderr: []string{"log_format nope not found"}},
		{name: "no proxy_pass anywhere", src: "server { location / { return 404; } }", stderr: []string{"return 404: the edge only proxies", "location /: no proxy_pass"}, err: ErrNoRoutes},
		{name: "one prefix twice", src: "server { location /a/ { proxy_pass http://o; } } server { location /a/ { proxy_pass http://p; } }", stderr: []string{"prefix /a/ is already a route (f.conf:1)"}},
		{name: "nested locations", src: "server { location /a/ { proxy_pass http://o; location /a/b/ { proxy_pass http://p; } } }", yaml: []string{"prefix: /a/b/\n    origin: http://p/a/b/"}},
		{name: "an unknown directive", src: inLocation("frobnicate on;"), stderr: []string{"frobnicate on: no edgecache equivalent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := nginxconf.Parse(nil, "f.conf", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Translate(ds)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			var stderr strings.Builder
			for _, u := range res.Untranslated {
				stderr.WriteString(u.String() + "\n")
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tc.stderr == nil && stderr.Len() > 0 {
				t.Errorf("untranslated:\n%s", stderr.String())
			}
			if err != nil {
				return
			}
			y := string(res.YAML)
			// Comments are wrapped: their text is also searched unwrapped.
			var notes []string
			for _, l := range strings.Split(y, "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "#") {
					notes = append(notes, strings.TrimSpace(strings.TrimPrefix(l, "#")))
				}
			}
			text := strings.Join(notes, " ")
			for _, w := range tc.yaml {
				if !strings.Contains(y, w) && !strings.Contains(text, w) {
					t.Errorf("yaml lacks %q:\n%s", w, y)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(y, w) {
					t.Errorf("yaml has %q:\n%s", w, y)
				}
			}
			cfg := decodeNow(t, res.YAML)
			if err := cfg.Proxy.Validate(); err != nil {
				t.Fatalf("does not validate: %v\n%s", err, y)
			}
		})
	}
}
