package ingest

import (
	"regexp"
	"time"
)

// RTMPConfig configures RTMP ingest.
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

var streamNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidStreamName reports whether name can be a stream name. It keeps
// names usable as a single URL path element and file-name-like.
func ValidStreamName(name string) bool {
	return streamNameRE.MatchString(name) && name != "." && name != ".."
}
