package origin

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
		{"reject unknown", AuthConfig{RejectUnknown: true, Streams: static}, "whatever", "", reasonUnknownStream},
		{"listed name without key", AuthConfig{RejectUnknown: true, Streams: static}, "open", "", ""},
		{"listed name with right key", AuthConfig{RejectUnknown: true, Streams: static}, "locked", "key=s3cret", ""},
		{"listed name with wrong key", AuthConfig{RejectUnknown: true, Streams: static}, "locked", "key=nope", reasonWrongKey},
		{"listed name with no key", AuthConfig{Streams: static}, "locked", "", reasonWrongKey},
		{"hook 2xx allows", AuthConfig{OnPublish: hook.URL, RejectUnknown: true}, "hook-ok", "token=abc", ""},
		{"hook 403 rejects", AuthConfig{OnPublish: hook.URL}, "hook-no", "", reasonHookDenied},
		{"hook 3xx rejects", AuthConfig{OnPublish: hook.URL}, "hook-redirect", "", reasonHookDenied},
		{"hook timeout rejects", AuthConfig{OnPublish: hook.URL, OnPublishTimeout: 50 * time.Millisecond}, "hook-slow", "", reasonHookError},
		{"hook unreachable rejects", AuthConfig{OnPublish: "http://127.0.0.1:1/x"}, "any", "", reasonHookError},
		{"static keys win over the hook", AuthConfig{OnPublish: hook.URL, Streams: static}, "open", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Auth: tc.cfg}
			cfg.applyDefaults()
			args, _ := url.ParseQuery(tc.args)
			err := newAuthorizer(cfg.Auth).authorize(context.Background(), publishRequest{
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
	cfg := DefaultConfig()
	cfg.Auth.OnPublish = hook.URL
	_ = newAuthorizer(cfg.Auth).authorize(context.Background(), publishRequest{
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

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr bool
		check   func(t *testing.T, c Config)
	}{
		{"empty gives defaults", "", false, func(t *testing.T, c Config) {
			if c.Segment.TargetDuration != 2*time.Second || c.Segment.Window != 12 || c.RTMP.App != "live" ||
				c.DASH.UTCTimingURL != "/dash/time" || c.Segment.Retain != 26*time.Second {
				t.Errorf("defaults: %+v", c)
			}
			if !c.HLS.LowLatency.On() || c.HLS.PartHoldBack != 1050*time.Millisecond || c.HLS.CanSkipUntil != 12*time.Second ||
				c.Segment.partTarget() != 350*time.Millisecond {
				t.Errorf("LL-HLS defaults: %+v, part target %v", c.HLS, c.Segment.partTarget())
			}
		}},
		{"low latency off keeps the short window", "hls:\n  low_latency: false\n", false, func(t *testing.T, c Config) {
			if c.HLS.LowLatency.On() || c.Segment.Window != 6 || c.Segment.Retain != 14*time.Second {
				t.Errorf("low_latency false: %+v %+v", c.HLS, c.Segment)
			}
		}},
		{"low latency settings", "segment:\n  fragment_duration: 200ms\nhls:\n  low_latency: true\n  part_hold_back: 1s\n  can_skip_until: 30s\n", false, func(t *testing.T, c Config) {
			if !c.HLS.LowLatency.On() || c.HLS.PartHoldBack != time.Second || c.HLS.CanSkipUntil != 30*time.Second ||
				c.Segment.partTarget() != 210*time.Millisecond {
				t.Errorf("LL-HLS settings: %+v, part target %v", c.HLS, c.Segment.partTarget())
			}
		}},
		{"part hold back under three part targets", "hls:\n  part_hold_back: 1s\n", true, nil},
		{"can skip until under six target durations", "hls:\n  can_skip_until: 11s\n", true, nil},
		{"low latency not a boolean", "hls:\n  low_latency: sometimes\n", true, nil},
		{"short hold back fine without low latency", "hls:\n  low_latency: false\n  part_hold_back: 100ms\n", false, func(t *testing.T, c Config) {
			if c.HLS.PartHoldBack != 100*time.Millisecond {
				t.Errorf("part_hold_back %v", c.HLS.PartHoldBack)
			}
		}},
		{"full", `
rtmp:
  listen: ":1936"
  app: ingest
  read_timeout: 5s
http:
  listen: ":9090"
  cors_allow_origin: https://player.example
auth:
  reject_unknown: true
  streams:
    - name: cam1
      key: abc
  on_publish: http://auth.internal/publish
segment:
  target_duration: 4s
  window: 10
hls:
  legacy_ts: true
stream_idle_timeout: 1m
`, false, func(t *testing.T, c Config) {
			if c.RTMP.App != "ingest" || c.Segment.TargetDuration != 4*time.Second || !c.HLS.LegacyTS ||
				len(c.Auth.Streams) != 1 || c.Auth.Streams[0].Key != "abc" || c.DASH.SuggestedPresentationDelay != 12*time.Second {
				t.Errorf("parsed: %+v", c)
			}
		}},
		{"unknown key", "segment:\n  targetduration: 2s\n", true, nil},
		{"bad duration", "segment:\n  target_duration: soon\n", true, nil},
		{"window too small", "segment:\n  window: 1\n", true, nil},
		{"bad hook url", "auth:\n  on_publish: /relative\n", true, nil},
		{"half tls", "rtmp:\n  tls:\n    listen: \":1937\"\n", true, nil},
		{"duplicate stream", "auth:\n  streams: [{name: a}, {name: a}]\n", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestStreamNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"test": true, "demo": true, "cam_1.hd-2": true,
		"": false, "..": false, "a/b": false, ".hidden": false, "sp ace": false, strings.Repeat("x", 200): false,
	} {
		if validStreamName(name) != ok {
			t.Errorf("validStreamName(%q) = %v", name, !ok)
		}
	}
}
