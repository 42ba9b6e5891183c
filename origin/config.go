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
	// MPDs. Zero means 1 s. With hls.low_latency, a media playlist gets at
	// most half its target duration, and the answer to a blocking reload
	// (_HLS_msn), which stays true "or later", six target durations (RFC
	// 8216bis appendix B).
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
	// a segment is built from; they are its LL-HLS parts. A fragment ends at
	// the first sample boundary at or after FragmentDuration, or earlier
	// when the next sample would take it past the part target (EXT-X-PART-INF
	// PART-TARGET), which is FragmentDuration plus 5% rounded up to the
	// millisecond: 350 ms for the default. Zero means 333 ms. It is capped
	// at TargetDuration.
	FragmentDuration time.Duration `yaml:"fragment_duration"`
	// Window is the number of segments listed in playlists and the MPD.
	// Zero means 12 when hls.low_latency is on (so that a delta update has
	// segments older than hls.can_skip_until to leave out), 6 otherwise.
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
	// LowLatency makes the fMP4 media playlists Low-Latency HLS (RFC
	// 8216bis): every fragment is published as a part (EXT-X-PART) as soon
	// as it is complete, with EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT,
	// blocking playlist reload (_HLS_msn, _HLS_part) and delta updates
	// (_HLS_skip). Zero value: on. Off (low_latency: false) gives playlists
	// without any of it, and delivery directives are ignored. The legacy
	// MPEG-TS playlist is never low-latency.
	LowLatency Switch `yaml:"low_latency"`
	// PartHoldBack is PART-HOLD-BACK of EXT-X-SERVER-CONTROL: how far from
	// the live edge a low-latency player plays. Zero means three part
	// targets, the least allowed (RFC 8216bis 4.4.3.8 asks for at least
	// three).
	PartHoldBack time.Duration `yaml:"part_hold_back"`
	// CanSkipUntil is CAN-SKIP-UNTIL of EXT-X-SERVER-CONTROL: a delta
	// update (_HLS_skip=YES) leaves out the segments further than this from
	// the end of the playlist. Zero means six target durations, the least
	// allowed (RFC 8216bis 4.4.3.8); a GOP longer than the target, which
	// raises EXT-X-TARGETDURATION, raises it with it.
	CanSkipUntil time.Duration `yaml:"can_skip_until"`
}

// Switch is an on/off setting whose zero value means "the documented
// default"; in YAML it is a boolean. It is a value, not a *bool, so that
// configs compare and print by content.
type Switch int8

// Switch values. SwitchDefault is replaced by the default when defaults
// are applied.
const (
	SwitchDefault Switch = iota
	SwitchOn
	SwitchOff
)

// On reports whether the switch is on.
func (s Switch) On() bool { return s == SwitchOn }

// UnmarshalYAML reads a YAML boolean.
func (s *Switch) UnmarshalYAML(n *yaml.Node) error {
	var on bool
	if err := n.Decode(&on); err != nil {
		return err
	}
	*s = SwitchOff
	if on {
		*s = SwitchOn
	}
	return nil
}

// MarshalYAML writes a YAML boolean (null for SwitchDefault).
func (s Switch) MarshalYAML() (any, error) {
	if s == SwitchDefault {
		return nil, nil
	}
	return s.On(), nil
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
	setDefault(&c.HLS.LowLatency, SwitchOn)
	if c.HLS.LowLatency.On() {
		setDefault(&c.Segment.Window, 12)
	}
	setDefault(&c.Segment.Window, 6)
	setDefault(&c.HLS.PartHoldBack, 3*c.Segment.partTarget())
	setDefault(&c.HLS.CanSkipUntil, 6*c.Segment.TargetDuration)
	setDefault(&c.Segment.Retain, time.Duration(c.Segment.Window+1)*c.Segment.TargetDuration)
	setDefault(&c.DASH.UTCTimingURL, "/dash/time")
	setDefault(&c.DASH.SuggestedPresentationDelay, 3*c.Segment.TargetDuration)
	setDefault(&c.StreamIdleTimeout, 5*time.Minute)
}

// partTarget is the LL-HLS Part Target Duration: the longest a fragment
// may last. The 5% over FragmentDuration lets a fragment that ends at the
// first frame boundary past FragmentDuration (30 fps frames in RTMP's
// milliseconds: 333 or 334 ms for ten) stay within it, and keeps every
// fragment but a segment's last at least 85% of it (RFC 8216bis 4.4.4.9)
// for frame durations up to 50 ms.
func (c *SegmentConfig) partTarget() time.Duration {
	d := c.FragmentDuration * 21 / 20
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
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
	if c.HLS.LowLatency.On() {
		// RFC 8216bis 4.4.3.8: PART-HOLD-BACK at least three part targets
		// (a SHOULD; two is the MUST), CAN-SKIP-UNTIL at least six target
		// durations (a MUST).
		if pt := c.Segment.partTarget(); c.HLS.PartHoldBack < 3*pt {
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
