package securelink

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

var now = time.Unix(2_000_000_000, 0)

func mustCompile(t testing.TB, c Config) *Link {
	t.Helper()
	l, err := Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The example of the nginx ngx_http_secure_link_module documentation:
// "/s/link?md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647" for
// secure_link_md5 "$secure_link_expires$uri$remote_addr secret" from
// 127.0.0.1.
func TestNginxDocExample(t *testing.T) {
	l := mustCompile(t, Config{Link: "$arg_md5,$arg_expires", MD5: "$secure_link_expires$uri$remote_addr secret"})
	r := &Request{Path: "/s/link", RawQuery: "md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647", ClientIP: netip.MustParseAddr("127.0.0.1")}
	if res := l.Check(r, now); res.Status != 200 {
		t.Fatalf("%+v", res)
	}
	q, err := l.Sign(SignRequest{Path: "/s/link", Expires: 2147483647, ClientIP: netip.MustParseAddr("127.0.0.1")})
	if err != nil || q != "md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647" {
		t.Fatalf("sign: %q %v", q, err)
	}
}

func TestCheck(t *testing.T) {
	l := mustCompile(t, Config{MD5: "$secure_link_expires$uri$remote_addr$arg_user $secure_link_secret", Secret: "s3cret"})
	ip := netip.MustParseAddr("192.0.2.1")
	sign := func(path string, exp int64, user string) string {
		q, err := l.Sign(SignRequest{Path: path, Expires: exp, ClientIP: ip, Args: url.Values{"user": {user}}})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	good := sign("/live/a.m3u8", now.Unix()+60, "bob")
	cases := []struct {
		name, path, query string
		ip                string
		status            int
		reason            string
	}{
		{"ok", "/live/a.m3u8", good, "192.0.2.1", 200, "ok"},
		{"other path", "/live/b.m3u8", good, "192.0.2.1", 403, "bad_hash"},
		{"other ip", "/live/a.m3u8", good, "192.0.2.2", 403, "bad_hash"},
		{"v4-mapped ip", "/live/a.m3u8", good, "::ffff:192.0.2.1", 200, "ok"},
		{"expired", "/live/a.m3u8", sign("/live/a.m3u8", now.Unix()-1, "bob"), "192.0.2.1", 410, "expired"},
		{"arg changed", "/live/a.m3u8", good + "x", "192.0.2.1", 403, "bad_hash"},
		{"missing", "/live/a.m3u8", "", "192.0.2.1", 403, "missing"},
		{"hash only", "/live/a.m3u8", "md5=abc", "192.0.2.1", 403, "malformed"},
		{"bad expiry", "/live/a.m3u8", "md5=_e4Nc3iduzkWRm01TBBNYw&expires=-5", "192.0.2.1", 403, "malformed"},
		{"long hash", "/live/a.m3u8", "md5=_e4Nc3iduzkWRm01TBBNYw_e4Nc3iduzkW&expires=5", "192.0.2.1", 403, "malformed"},
		{"upper-case arg names", "/live/a.m3u8", "MD5=x&EXPIRES=1", "192.0.2.1", 403, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := l.Check(&Request{Path: tc.path, RawQuery: tc.query, ClientIP: netip.MustParseAddr(tc.ip)}, now)
			if res.Status != tc.status || res.Reason != tc.reason {
				t.Fatalf("got %+v, want %d %s", res, tc.status, tc.reason)
			}
		})
	}
}

func TestDerive(t *testing.T) {
	l := mustCompile(t, Config{MD5: "$secure_link_expires$uri$http_x_viewer secret"})
	h := http.Header{"X-Viewer": {"v1"}}
	q, _ := l.Sign(SignRequest{Path: "/live/a.m3u8", Expires: now.Unix() + 10, Header: h})
	r := &Request{Path: "/live/a.m3u8", RawQuery: q, Header: h}
	res := l.Check(r, now)
	if res.Status != 200 {
		t.Fatalf("%+v", res)
	}
	dq, ok := l.Derive(r, res, "/live/seg1.m4s", 30*time.Second)
	if !ok {
		t.Fatal("derive")
	}
	seg := &Request{Path: "/live/seg1.m4s", RawQuery: dq, Header: h}
	if res := l.Check(seg, now.Add(35*time.Second)); res.Status != 200 {
		t.Fatalf("derived link within grace: %+v (%s)", res, dq)
	}
	if res := l.Check(seg, now.Add(41*time.Second)); res.Status != 410 {
		t.Fatalf("derived link after grace: %+v", res)
	}
	seg.Path = "/live/seg2.m4s"
	if res := l.Check(seg, now); res.Status != 403 {
		t.Fatalf("derived link on another path: %+v", res)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []Config{
		{MD5: ""},
		{MD5: "$nope secret"},
		{MD5: "${uri secret"},
		{MD5: "$ secret"},
		{MD5: "$secure_link_secret$uri"},
		{MD5: "$binary_remote_addr"},
	} {
		if _, err := Compile(c); err == nil {
			t.Errorf("%+v compiled", c)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	l := mustCompile(t, Config{MD5: "$secure_link_expires$uri$remote_addr secret"})
	q, _ := l.Sign(SignRequest{Path: "/live/a/seg_00001.m4s", Expires: now.Unix() + 60, ClientIP: netip.MustParseAddr("192.0.2.1")})
	r := &Request{Path: "/live/a/seg_00001.m4s", RawQuery: q, ClientIP: netip.MustParseAddr("192.0.2.1")}
	if n := testing.AllocsPerRun(100, func() { l.Check(r, now) }); n > 2 {
		t.Fatalf("%v allocs per check", n)
	}
}

func BenchmarkCheck(b *testing.B) {
	l := mustCompile(b, Config{MD5: "$secure_link_expires$uri$remote_addr secret"})
	q, _ := l.Sign(SignRequest{Path: "/live/a/seg_00001.m4s", Expires: now.Unix() + 60, ClientIP: netip.MustParseAddr("192.0.2.1")})
	r := &Request{Path: "/live/a/seg_00001.m4s", RawQuery: q, ClientIP: netip.MustParseAddr("192.0.2.1")}
	b.ReportAllocs()
	for b.Loop() {
		if l.Check(r, now).Status != 200 {
			b.Fatal("refused")
		}
	}
}

func FuzzCheck(f *testing.F) {
	l := mustCompile(f, Config{MD5: "$secure_link_expires$uri$remote_addr$arg_u secret"})
	f.Add("/s/link", "md5=_e4Nc3iduzkWRm01TBBNYw&expires=2147483647")
	f.Add("/", "md5=&expires=")
	f.Add("/a", "md5=====&expires=99999999999999999999999")
	f.Add("/a", "u=%ZZ&md5=x,y&expires=1")
	f.Fuzz(func(t *testing.T, path, q string) {
		res := l.Check(&Request{Path: path, RawQuery: q, ClientIP: netip.MustParseAddr("127.0.0.1")}, now)
		switch res.Status {
		case 200, 403, 410:
		default:
			t.Fatalf("status %d", res.Status)
		}
	})
}
