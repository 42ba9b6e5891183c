package ingest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookLiveness bounds a call to a test hook that answers at once.
const hookLiveness = 30 * time.Second

func TestAuthorize(t *testing.T) {
	var mu sync.Mutex // guards gotForm
	var gotForm url.Values
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		gotForm = r.PostForm
		mu.Unlock()
		switch r.PostForm.Get("name") {
		case "hook-ok":
			w.WriteHeader(http.StatusNoContent)
		case "hook-slow":
			time.Sleep(300 * time.Millisecond)
		case "hook-redirect":
			w.WriteHeader(http.StatusFound)
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer hook.Close()

	static := []StreamKey{{Name: "open"}, {Name: "locked", Key: "s3cret"}}
	tests := []struct {
		name       string
		cfg        AuthConfig
		stream     string
		args       string
		wantReason string // "" = allowed
	}{
		{"open ingest allows anything", AuthConfig{}, "whatever", "", ""},
		{"reject unknown", AuthConfig{RejectUnknown: true, Streams: static}, "whatever", "", ReasonUnknownStream},
		{"listed name without key", AuthConfig{RejectUnknown: true, Streams: static}, "open", "", ""},
		{"listed name with right key", AuthConfig{RejectUnknown: true, Streams: static}, "locked", "key=s3cret", ""},
		{"listed name with wrong key", AuthConfig{RejectUnknown: true, Streams: static}, "locked", "key=nope", ReasonWrongKey},
		{"listed name with no key", AuthConfig{Streams: static}, "locked", "", ReasonWrongKey},
		{"hook 2xx allows", AuthConfig{OnPublish: hook.URL, RejectUnknown: true}, "hook-ok", "token=abc", ""},
		{"hook 403 rejects", AuthConfig{OnPublish: hook.URL}, "hook-no", "", ReasonHookDenied},
		{"hook 3xx rejects", AuthConfig{OnPublish: hook.URL}, "hook-redirect", "", ReasonHookDenied},
		{"hook timeout rejects", AuthConfig{OnPublish: hook.URL, OnPublishTimeout: 50 * time.Millisecond}, "hook-slow", "", ReasonHookError},
		{"hook unreachable rejects", AuthConfig{OnPublish: "http://127.0.0.1:1/x"}, "any", "", ReasonHookError},
		{"static keys win over the hook", AuthConfig{OnPublish: hook.URL, Streams: static}, "open", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.OnPublishTimeout == 0 {
				// A failsafe: the local hook answers at once. The
				// packager's default, 5 s, would be a bound a loaded
				// machine could break, failing an allowed publish.
				cfg.OnPublishTimeout = hookLiveness
			}
			args, _ := url.ParseQuery(tc.args)
			err := newAuthorizer(cfg).authorize(context.Background(), publishRequest{
				app: "live", name: tc.stream, args: args, addr: "127.0.0.1:5000", tcURL: "rtmp://h/live",
			})
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var re *RejectError
			if !errors.Is(err, ErrPublishRejected) || !errors.As(err, &re) || re.Reason != tc.wantReason {
				t.Fatalf("err %v, want reason %s", err, tc.wantReason)
			}
		})
	}
	// nginx-rtmp on_publish form fields, and the stream URL's arguments.
	_ = newAuthorizer(AuthConfig{OnPublish: hook.URL, OnPublishTimeout: hookLiveness}).authorize(context.Background(), publishRequest{
		app: "live", name: "hook-ok", args: url.Values{"token": {"abc"}}, addr: "10.0.0.1:1", tcURL: "rtmp://h/live",
	})
	mu.Lock()
	defer mu.Unlock()
	for k, want := range map[string]string{"call": "publish", "app": "live", "name": "hook-ok", "token": "abc", "addr": "10.0.0.1:1"} {
		if gotForm.Get(k) != want {
			t.Errorf("hook form %s=%q, want %q", k, gotForm.Get(k), want)
		}
	}
}

func TestStreamNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"test": true, "demo": true, "cam_1.hd-2": true,
		"": false, "..": false, "a/b": false, ".hidden": false, "sp ace": false, strings.Repeat("x", 200): false,
	} {
		if ValidStreamName(name) != ok {
			t.Errorf("ValidStreamName(%q) = %v", name, !ok)
		}
	}
}
