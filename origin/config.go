package origin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edgecache/edgecache/origin/ingest"
	"github.com/edgecache/edgecache/origin/live"
)

// ErrInvalidConfig is wrapped by every configuration validation error.
var ErrInvalidConfig = errors.New("invalid config")

// Config is the packager configuration. The zero value of every field means
// "use the documented default"; DefaultConfig returns them filled in, and
// New validates the result.
type Config struct {
	RTMP    RTMPConfig    `yaml:"rtmp"`
	RTSP    RTSPConfig    `yaml:"rtsp"`
	SRT     SRTConfig     `yaml:"srt"`
	HTTP    HTTPConfig    `yaml:"http"`
	Auth    AuthConfig    `yaml:"auth"`
	Segment SegmentConfig `yaml:"segment"`
	HLS     HLSConfig     `yaml:"hls"`
	DASH    DASHConfig    `yaml:"dash"`

	// StreamIdleTimeout is how long a stream's state (window, sequence
	// numbers, availabilityStartTime) survives after its publisher left, so
	// a republish continues it. Zero means 5 minutes.
	StreamIdleTimeout time.Duration `yaml:"stream_idle_timeout"`
}

// The sections of Config are the layers' own (ingest, live); these names
// keep the packager's configuration in one place for its users.
type (
	// RTMPConfig configures ingest.
	RTMPConfig = ingest.RTMPConfig
	// RTMPSConfig configures the RTMPS listener.
	RTMPSConfig = ingest.RTMPSConfig
	// SRTConfig configures SRT ingest.
	SRTConfig = ingest.SRTConfig
	// AuthConfig configures publish authorisation.
	AuthConfig = ingest.AuthConfig
	// StreamKey is one statically allowed stream.
	StreamKey = ingest.StreamKey
	// RTSPConfig configures RTSP ingest: the server and pulled sources.
	RTSPConfig = ingest.RTSPConfig
	// RTSPSource is one pulled RTSP source.
	RTSPSource = ingest.RTSPSource
	// SegmentConfig configures the segmenter and the window.
	SegmentConfig = live.SegmentConfig
	// HLSConfig configures HLS output.
	HLSConfig = live.HLSConfig
	// DASHConfig configures DASH output.
	DASHConfig = live.DASHConfig
	// Switch is an on/off setting whose zero value means the default.
	Switch = live.Switch
)

// Switch values.
const (
	SwitchDefault = live.SwitchDefault
	SwitchOn      = live.SwitchOn
	SwitchOff     = live.SwitchOff
)

// HTTPConfig configures the HTTP side.
type HTTPConfig struct {
	// Listen is the HTTP listen address used by cmd/packager. Zero means
	// ":8088" (8080 is often taken). The -http-listen flag overrides it.
	Listen string `yaml:"listen"`
	// CORSAllowOrigin is sent as Access-Control-Allow-Origin. Zero means "*".
	CORSAllowOrigin string `yaml:"cors_allow_origin"`
	// PlaylistMaxAge is the Cache-Control max-age of live playlists and
	// MPDs. Zero means 1 s. With hls.low_latency, a media playlist gets at
	// most half its target duration, and the answer to a blocking reload
	// (_HLS_msn), which stays true "or later", six target durations (RFC
	// 8216bis appendix B).
	PlaylistMaxAge time.Duration `yaml:"playlist_max_age"`
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	setDefault(&c.RTMP.Listen, ":1935")
	setDefault(&c.RTMP.App, "live")
	setDefault(&c.RTMP.ReadTimeout, 10*time.Second)
	setDefault(&c.RTMP.MaxStreams, 64)
	c.RTSP.ApplyDefaults()
	setDefault(&c.HTTP.Listen, ":8088")
	setDefault(&c.HTTP.CORSAllowOrigin, "*")
	setDefault(&c.HTTP.PlaylistMaxAge, time.Second)
	setDefault(&c.Auth.OnPublishTimeout, 5*time.Second)
	lc := c.liveConfig()
	lc.ApplyDefaults()
	c.Segment, c.HLS, c.DASH, c.StreamIdleTimeout = lc.Segment, lc.HLS, lc.DASH, lc.IdleTimeout
}

// liveConfig is what the live streams take of c.
func (c *Config) liveConfig() live.Config {
	return live.Config{
		Segment:     c.Segment,
		HLS:         c.HLS,
		DASH:        c.DASH,
		MaxStreams:  c.RTMP.MaxStreams,
		IdleTimeout: c.StreamIdleTimeout,
	}
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

// Validate checks a Config whose defaults were applied.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !ingest.ValidStreamName(c.RTMP.App) {
		bad("rtmp.app %q: must be a single path element", c.RTMP.App)
	}
	if c.RTMP.ReadTimeout < 0 || c.RTMP.MaxStreams < 0 {
		bad("rtmp.read_timeout and rtmp.max_streams must not be negative")
	}
	t := c.RTMP.TLS
	if (t.Listen != "" || t.CertFile != "" || t.KeyFile != "") && !t.Enabled() {
		bad("rtmp.tls needs listen, cert_file and key_file together")
	}
	if c.Segment.TargetDuration < 100*time.Millisecond || c.Segment.TargetDuration > time.Minute {
		bad("segment.target_duration %v: must be within 100ms..1m", c.Segment.TargetDuration)
	}
	if c.Segment.FragmentDuration < 10*time.Millisecond {
		bad("segment.fragment_duration %v: must be at least 10ms", c.Segment.FragmentDuration)
	}
	if c.Segment.Window < 2 || c.Segment.Window > 1000 {
		bad("segment.window %d: must be within 2..1000", c.Segment.Window)
	}
	if t := c.Segment.Timeline; t != live.TimelineSession && t != live.TimelineLocked {
		bad("segment.timeline %q: want %q or %q", t, live.TimelineSession, live.TimelineLocked)
	}
	if c.Segment.Retain < 0 {
		bad("segment.retain must not be negative")
	}
	if c.HLS.LowLatency.On() {
		// RFC 8216bis 4.4.3.8: PART-HOLD-BACK at least three part targets
		// (a SHOULD; two is the MUST), CAN-SKIP-UNTIL at least six target
		// durations (a MUST).
		if pt := c.Segment.PartTarget(); c.HLS.PartHoldBack < 3*pt {
			bad("hls.part_hold_back %v: must be at least three part targets (%v)", c.HLS.PartHoldBack, 3*pt)
		}
		if c.HLS.CanSkipUntil < 6*c.Segment.TargetDuration {
			bad("hls.can_skip_until %v: must be at least six target durations (%v)", c.HLS.CanSkipUntil, 6*c.Segment.TargetDuration)
		}
	}
	if c.HLS.LowLatency != SwitchOn && c.HLS.LowLatency != SwitchOff {
		bad("hls.low_latency: invalid value %d", c.HLS.LowLatency)
	}
	seen := map[string]bool{}
	for _, k := range c.Auth.Streams {
		if !ingest.ValidStreamName(k.Name) {
			bad("auth.streams: invalid stream name %q", k.Name)
		}
		if seen[k.Name] {
			bad("auth.streams: duplicate stream name %q", k.Name)
		}
		seen[k.Name] = true
	}
	if c.Auth.OnPublish != "" {
		u, err := url.Parse(c.Auth.OnPublish)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("auth.on_publish %q: must be an absolute http(s) URL", c.Auth.OnPublish)
		}
	}
	if err := c.RTSP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.StreamIdleTimeout < 0 {
		bad("stream_idle_timeout must not be negative")
	}
	if err := c.SRT.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// LoadConfig reads a YAML config file. Unknown keys are errors, so a typo
// does not silently fall back to a default. Defaults are applied and the
// result validated.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses YAML config bytes, applies defaults and validates.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
