package loopback

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	res := fakeResolver{
		"localhost":     {"127.0.0.1", "::1"},
		"edge.test":     {"127.0.0.5"},
		"mixed.test":    {"127.0.0.1", "192.0.2.7"},
		"cdn.example":   {"203.0.113.9"},
		"lab-edge.test": {"10.1.2.3"},
	}
	tests := []struct {
		name      string
		url       string
		allow     string
		wantErr   bool
		refused   bool   // errors.Is ErrNotLoopback
		wantInMsg string // part of the message, to prove it says why
	}{
		{"ipv4 loopback", "http://127.0.0.1:8081/hls/demo.m3u8", "", false, false, ""},
		{"other 127/8", "http://127.9.9.9/x", "", false, false, ""},
		{"ipv6 loopback", "http://[::1]:8081/x", "", false, false, ""},
		{"localhost all loopback", "http://localhost:8081/x", "", false, false, ""},
		{"name to loopback", "http://edge.test/x", "", false, false, ""},
		{"private ip", "http://10.0.0.1/x", "", true, true, "10.0.0.1 is not a loopback address"},
		{"public ip", "http://8.8.8.8/x", "", true, true, "-allow-host 8.8.8.8"},
		{"ipv6 non loopback", "http://[2001:db8::1]/x", "", true, true, "not a loopback"},
		{"unspecified", "http://0.0.0.0:8081/x", "", true, true, "not a loopback"},
		{"name to public", "http://cdn.example/live.m3u8", "", true, true, "resolves to 203.0.113.9"},
		{"one address non-loopback", "http://mixed.test/x", "", true, true, "resolves to 192.0.2.7"},
		{"allowed exact host", "http://lab-edge.test:8081/x", "lab-edge.test", false, false, ""},
		{"allowed case-insensitive", "http://LAB-EDGE.test/x", "lab-edge.test", false, false, ""},
		{"allowed ip literal", "http://10.0.0.1/x", "10.0.0.1", false, false, ""},
		{"allow names other host", "http://cdn.example/x", "lab-edge.test", true, true, "-allow-host cdn.example"},
		{"allow is not a suffix match", "http://x.lab-edge.test/x", "lab-edge.test", true, false, "no such host"},
		{"unresolvable", "http://nowhere.test/x", "", true, false, "resolve nowhere.test"},
		{"bad scheme", "ftp://127.0.0.1/x", "", true, false, "scheme"},
		{"no host", "http:///x", "", true, false, "no host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Guard{AllowHost: tc.allow, Resolver: res}
			err := g.CheckURL(t.Context(), tc.url)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CheckURL(%s) = %v, want error %v", tc.url, err, tc.wantErr)
			}
			if err == nil {
				return
			}
			if got := errors.Is(err, ErrNotLoopback); got != tc.refused {
				t.Errorf("errors.Is(ErrNotLoopback) = %v, want %v (%v)", got, tc.refused, err)
			}
			if !strings.Contains(err.Error(), tc.wantInMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantInMsg)
			}
		})
	}
}

func TestDialRefusesNonLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	tests := []struct {
		name    string
		allow   string
		addr    string
		refused bool
	}{
		{"loopback dials", "", srv.Listener.Addr().String(), false},
		// TEST-NET-1: never routed. Control refuses before connect, so
		// no packet leaves even if it were.
		{"non-loopback refused before connect", "", "192.0.2.1:80", true},
		{"ipv6 non-loopback refused", "", "[2001:db8::1]:80", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dial := Guard{AllowHost: tc.allow}.DialContext(&net.Dialer{})
			c, err := dial(t.Context(), "tcp", tc.addr)
			if c != nil {
				c.Close()
			}
			if got := errors.Is(err, ErrNotLoopback); got != tc.refused {
				t.Fatalf("dial %s: err %v, refused %v want %v", tc.addr, err, got, tc.refused)
			}
			if !tc.refused && err != nil {
				t.Fatalf("dial %s: %v", tc.addr, err)
			}
		})
	}
}

// A redirect off the machine is stopped at the dial, after the URL check
// passed.
func TestTransportRefusesRedirectOffMachine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	g := Guard{}
	if err := g.CheckURL(t.Context(), srv.URL); err != nil {
		t.Fatal(err)
	}
	tr := g.Transport(1)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect to a non-loopback host was followed")
	}
	if !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("err = %v, want ErrNotLoopback", err)
	}
}
