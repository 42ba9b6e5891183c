package origin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidConfig is wrapped by every configuration validation error.
var ErrInvalidConfig = errors.New("invalid config")

// Config is the packager configuration. The zero value of every field means
// "use the documented default"; DefaultConfig returns them filled in, and
// New validates the result.
type Config struct {
	RTMP    RTMPConfig    `yaml:"rtmp"`
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

// RTMPConfig configures ingest.
type RTMPConfig struct {
	// Listen is the RTMP listen address used by cmd/packager. Zero means
	// ":1935". The -rtmp-listen flag overrides it.
	Listen string `yaml:"listen"`
	// App is the only RTMP application accepted (rtmp://HOST/APP/STREAM).
	// Zero means "live", as in the seed nginx-rtmp setup.
	App string `yaml:"app"`
	// TLS enables an RTMPS listener when Listen, CertFile and KeyFile are
	// all set. Zero value: no RTMPS.
	TLS RTMPSConfig `yaml:"tls"`
	// ReadTimeout bounds the wait for the next message from a publisher.
	// Zero means 10 s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// MaxStreams caps concurrently publishing streams. Zero means 64.
	MaxStreams int `yaml:"max_streams"`
}

// RTMPSConfig configures the RTMPS listener.
type RTMPSConfig struct {
	Listen   string `yaml:"listen"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether RTMPS is configured.
func (c RTMPSConfig) Enabled() bool { return c.Listen != "" && c.CertFile != "" && c.KeyFile != "" }

// HTTPConfig configures the HTTP side.
type HTTPConfig struct {
	// Listen is the HTTP listen address used by cmd/packager. Zero means
	// ":8088" (8080 is often taken). The -http-listen flag overrides it.
	Listen string `yaml:"listen"`
	// CORSAllowOrigin is sent as Access-Control-Allow-Origin. Zero means "*".
	CORSAllowOrigin string `yaml:"cors_allow_origin"`
	// PlaylistMaxAge is the Cache-Control max-age of live playlists and
	// MPDs. Zero means 1 s.
	PlaylistMaxAge time.Duration `yaml:"playlist_max_age"`
}

// AuthConfig configures publish authorisation.
//
// Order of decisions: a stream listed in Streams is decided by its key
// alone. Otherwise, when OnPublish is set, the hook decides (2xx allows,
// anything else, including a transport error, rejects). Otherwise the
// publish is rejected if RejectUnknown is set and allowed if not.
type AuthConfig struct {
	// RejectUnknown rejects stream names not listed in Streams when no hook
	// is configured. Zero value (false): open ingest, for development.
	RejectUnknown bool `yaml:"reject_unknown"`
	// Streams are the static stream keys.
	Streams []StreamKey `yaml:"streams"`
	// OnPublish is an nginx-rtmp style on_publish URL (form POST with
	// call, app, name, addr, tcurl, flashver and the stream URL's query
	// arguments). Zero value: no hook.
	OnPublish string `yaml:"on_publish"`
	// OnPublishTimeout bounds the hook call. Zero means 5 s.
	OnPublishTimeout time.Duration `yaml:"on_publish_timeout"`
}

// StreamKey is one statically allowed stream.
type StreamKey struct {
	// Name is the stream name: the path element after /APP/.
	Name string `yaml:"name"`
	// Key, when set, must be given by the publisher as ?key=KEY in the
	// stream URL (rtmp://HOST/live/NAME?key=KEY). Empty: the name itself
	// is the secret, as with nginx-rtmp setups that treat the stream name
	// as the stream key.
	Key string `yaml:"key"`
}

// SegmentConfig configures the segmenter and the window.
type SegmentConfig struct {
	// TargetDuration is the duration after which the next keyframe cuts a
	// segment. Zero means 2 s.
	TargetDuration time.Duration `yaml:"target_duration"`
	// FragmentDuration is the duration of the CMAF fragments (moof+mdat)
	// a segment is built from; they are the future LL-HLS parts. Zero means
	// 333 ms. It is capped at TargetDuration.
	FragmentDuration time.Duration `yaml:"fragment_duration"`
	// Window is the number of segments listed in playlists and the MPD.
	// Zero means 6.
	Window int `yaml:"window"`
	// Retain is how long a segment stays fetchable after it left the
	// window. Zero means the window's duration plus one target duration,
	// the RFC 8216 section 6.2.2 minimum.
	Retain time.Duration `yaml:"retain"`
}

// HLSConfig configures HLS output.
type HLSConfig struct {
	// LegacyTS also produces a muxed MPEG-TS rendition at
	// /hls/STREAM/ts.m3u8 for players without fMP4 support (H.264/H.265 +
	// AAC only). Zero value: off.
	LegacyTS bool `yaml:"legacy_ts"`
}

// DASHConfig configures DASH output.
type DASHConfig struct {
	// UTCTimingURL is the UTCTiming (urn:mpeg:dash:utc:http-iso:2014)
	// source written into MPDs. Zero means "/dash/time", served by this
	// packager. Set an absolute URL when players reach the MPD through a
	// host that does not forward /dash/time.
	UTCTimingURL string `yaml:"utc_timing_url"`
	// SuggestedPresentationDelay is written to the MPD. Zero means three
	// target durations.
	SuggestedPresentationDelay time.Duration `yaml:"suggested_presentation_delay"`
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
	setDefault(&c.HTTP.Listen, ":8088")
	setDefault(&c.HTTP.CORSAllowOrigin, "*")
	setDefault(&c.HTTP.PlaylistMaxAge, time.Second)
	setDefault(&c.Auth.OnPublishTimeout, 5*time.Second)
	setDefault(&c.Segment.TargetDuration, 2*time.Second)
	setDefault(&c.Segment.FragmentDuration, 333*time.Millisecond)
	if c.Segment.FragmentDuration > c.Segment.TargetDuration {
		c.Segment.FragmentDuration = c.Segment.TargetDuration
	}
	setDefault(&c.Segment.Window, 6)
	setDefault(&c.Segment.Retain, time.Duration(c.Segment.Window+1)*c.Segment.TargetDuration)
	setDefault(&c.DASH.UTCTimingURL, "/dash/time")
	setDefault(&c.DASH.SuggestedPresentationDelay, 3*c.Segment.TargetDuration)
	setDefault(&c.StreamIdleTimeout, 5*time.Minute)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}

var streamNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// validStreamName reports whether name can be a stream name. It keeps
// names usable as a single URL path element and file-name-like.
func validStreamName(name string) bool {
	return streamNameRE.MatchString(name) && name != "." && name != ".."
}

// Validate checks a Config whose defaults were applied.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !validStreamName(c.RTMP.App) {
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
	if c.Segment.Retain < 0 {
		bad("segment.retain must not be negative")
	}
	seen := map[string]bool{}
	for _, k := range c.Auth.Streams {
		if !validStreamName(k.Name) {
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
	if c.StreamIdleTimeout < 0 {
		bad("stream_idle_timeout must not be negative")
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
