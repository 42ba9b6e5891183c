// Package edgeconfig is the format of edgecache's config file: the
// listeners, logging and drain settings, with the proxy's policy inline.
// cmd/edgecache layers environment variables and flags over it; the
// Kubernetes checks decode the shipped ConfigMaps with it.
package edgeconfig

import (
	"reflect"
	"time"

	"github.com/edgecache/edgecache/accesslog"
	"github.com/edgecache/edgecache/proxy"
	"go.yaml.in/yaml/v3"
)

// File is edgecache's YAML config file: the listeners and logging, with the
// proxy's policy inline at the top level.
type File struct {
	// Listen is the address viewers connect to. Default ":8081".
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /healthz and /readyz. Default ":9091".
	AdminListen string `yaml:"admin_listen"`
	// LogFormat is "text" or "json". Default "text".
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level"`
	// ShutdownGrace is how long the edge keeps serving after a stop
	// signal, with /readyz failing, so the endpoints controller and the
	// ingress take it out before it stops accepting. Default 5s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// ShutdownTimeout bounds how long in-flight responses may take to
	// finish once the edge stops accepting. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// PurgeToken is the bearer token POST /purge on the admin listener
	// requires. Empty (the default) disables purging. Prefer
	// PurgeTokenFile or EDGECACHE_PURGE_TOKEN to a token in the file.
	PurgeToken string `yaml:"purge_token"`
	// PurgeTokenFile names a file holding the token (a Kubernetes Secret
	// mounted as a file), read at start and on reload.
	PurgeTokenFile string `yaml:"purge_token_file"`
	// AccessLog is where one line per response goes and in what format:
	// stdout in the default format (nginx combined plus the cache status
	// and timings) unless set. A change needs a restart.
	AccessLog accesslog.Config `yaml:"access_log"`

	Proxy proxy.Config `yaml:",inline"`
}

// Default is the config before any file, environment variable or flag.
func Default() File {
	return File{
		Listen:          ":8081",
		AdminListen:     ":9091",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownGrace:   5 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		AccessLog:       accesslog.Config{Path: "stdout", Format: "edgecache", Buffer: accesslog.DefaultBuffer},
		Proxy:           proxy.DefaultConfig(),
	}
}

// Decode decodes YAML strictly: an unknown field is an error, not a
// silently ignored typo, and it is an *UnknownFieldError naming the key,
// its line and the nearest known key. Durations take Go's syntax or
// nginx's units (ParseDuration); a bad one is a *DurationError naming the
// key and its line.
func Decode(b []byte, cfg *File) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil // an empty file changes nothing
	}
	t := reflect.TypeFor[File]()
	if uf := walk(doc.Content[0], t, ""); uf != nil {
		return uf
	}
	if err := durations(doc.Content[0], t, ""); err != nil {
		return err
	}
	// Every key is known (walk), so decoding the node, which has no
	// strict mode, is as strict as the decoder's KnownFields.
	return doc.Decode(cfg)
}
