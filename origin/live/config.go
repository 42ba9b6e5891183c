package live

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is what the live streams need of the packager's configuration.
// The zero value of every field means "use the documented default";
// ApplyDefaults fills them in.
type Config struct {
	Segment SegmentConfig
	HLS     HLSConfig
	DASH    DASHConfig
	// MaxStreams caps concurrently publishing streams. Zero: no cap.
	MaxStreams int
	// IdleTimeout is how long a stream's state (window, sequence numbers,
	// availabilityStartTime) survives after its publisher left, so a
	// republish continues it. Zero means 5 minutes.
	IdleTimeout time.Duration
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
	// Timeline is how segments are numbered and timed. "session" (the
	// default): each stream numbers its segments from 0 and starts its
	// media time at 0, under a URL token new at every start, so no two
	// runs share a URL. "locked": media time, segment numbers, URLs and
	// the DASH period are derived from the wall-clock time of the input's
	// timestamps, so two packagers fed the same input (one encoder
	// publishing to both, or each one's -demo) publish interchangeable
	// playlists and segments, and an edge can fail over between them
	// without the stream restarting. It needs a GOP of the target
	// duration; docs/fleet.md has the rest.
	Timeline string `yaml:"timeline"`
}

// Timeline values.
const (
	TimelineSession = "session"
	TimelineLocked  = "locked"
)

// Locked reports whether the timeline is locked to the wall clock.
func (c *SegmentConfig) Locked() bool { return c.Timeline == TimelineLocked }

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

// ApplyDefaults fills in every zero field's default.
func (c *Config) ApplyDefaults() {
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
	setDefault(&c.HLS.PartHoldBack, 3*c.Segment.PartTarget())
	setDefault(&c.HLS.CanSkipUntil, 6*c.Segment.TargetDuration)
	setDefault(&c.Segment.Timeline, TimelineSession)
	setDefault(&c.Segment.Retain, time.Duration(c.Segment.Window+1)*c.Segment.TargetDuration)
	setDefault(&c.DASH.UTCTimingURL, "/dash/time")
	setDefault(&c.DASH.SuggestedPresentationDelay, 3*c.Segment.TargetDuration)
	setDefault(&c.IdleTimeout, 5*time.Minute)
}

// PartTarget is the LL-HLS Part Target Duration: the longest a fragment
// may last. The 5% over FragmentDuration lets a fragment that ends at the
// first frame boundary past FragmentDuration (30 fps frames in RTMP's
// milliseconds: 333 or 334 ms for ten) stay within it, and keeps every
// fragment but a segment's last at least 85% of it (RFC 8216bis 4.4.4.9)
// for frame durations up to 50 ms.
func (c *SegmentConfig) PartTarget() time.Duration {
	d := c.FragmentDuration * 21 / 20
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

func setDefault[T comparable](p *T, v T) {
	var zero T
	if *p == zero {
		*p = v
	}
}
