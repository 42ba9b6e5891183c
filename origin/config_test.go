package origin

import (
	"errors"
	"testing"
	"time"
)

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
				c.Segment.PartTarget() != 350*time.Millisecond {
				t.Errorf("LL-HLS defaults: %+v, part target %v", c.HLS, c.Segment.PartTarget())
			}
		}},
		{"low latency off keeps the short window", "hls:\n  low_latency: false\n", false, func(t *testing.T, c Config) {
			if c.HLS.LowLatency.On() || c.Segment.Window != 6 || c.Segment.Retain != 14*time.Second {
				t.Errorf("low_latency false: %+v %+v", c.HLS, c.Segment)
			}
		}},
		{"low latency settings", "segment:\n  fragment_duration: 200ms\nhls:\n  low_latency: true\n  part_hold_back: 1s\n  can_skip_until: 30s\n", false, func(t *testing.T, c Config) {
			if !c.HLS.LowLatency.On() || c.HLS.PartHoldBack != time.Second || c.HLS.CanSkipUntil != 30*time.Second ||
				c.Segment.PartTarget() != 210*time.Millisecond {
				t.Errorf("LL-HLS settings: %+v, part target %v", c.HLS, c.Segment.PartTarget())
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
