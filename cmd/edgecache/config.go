package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/edgecache/edgecache/internal/lifecycle"
	"github.com/edgecache/edgecache/proxy"
	"go.yaml.in/yaml/v3"
)

// fileConfig is the YAML config file: the listeners and logging, with the
// proxy's policy inline at the top level.
type fileConfig struct {
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

	Proxy proxy.Config `yaml:",inline"`
}

func defaultFileConfig() fileConfig {
	return fileConfig{
		Listen:          ":8081",
		AdminListen:     ":9091",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownGrace:   5 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		Proxy:           proxy.DefaultConfig(),
	}
}

// envPrefix names the environment variables: every flag -foo-bar is also
// EDGECACHE_FOO_BAR.
const envPrefix = "EDGECACHE_"

// loadConfig builds the config, each layer over the one before: defaults,
// then the YAML file, then environment variables, then flags. So a flag
// beats its EDGECACHE_ variable, which beats the file. The file's path
// itself comes from -config or EDGECACHE_CONFIG. It returns the path, so
// the caller can watch the file.
func loadConfig(args []string, getenv func(string) (string, bool), stderr io.Writer) (fileConfig, string, error) {
	cfg := defaultFileConfig()
	fs := flag.NewFlagSet("edgecache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config file (see edgecache.example.yaml)")
	listen := fs.String("listen", cfg.Listen, "address viewers connect to")
	admin := fs.String("admin-listen", cfg.AdminListen, "address of /metrics, /healthz, /readyz")
	origin := fs.String("origin", "", "proxy every path to this origin URL (a single route \"/\")")
	cacheSize := fs.String("cache-size", "", "RAM cache budget, e.g. 512MiB (default 512MiB)")
	serverName := fs.String("server-name", "", "this edge's name in Via, for loop detection (default the host name)")
	logFormat := fs.String("log-format", cfg.LogFormat, "log format: text or json")
	logLevel := fs.String("log-level", cfg.LogLevel, "log level: debug, info, warn, error")
	grace := fs.Duration("shutdown-grace", cfg.ShutdownGrace, "after a stop signal, keep serving this long with /readyz failing")
	drainLimit := fs.Duration("shutdown-timeout", cfg.ShutdownTimeout, "then let in-flight responses finish for at most this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edgecache [flags]\n\nEvery flag -foo-bar can also be set as %sFOO_BAR.\nPrecedence: flag, then environment, then the -config file, then the default.\n\n", envPrefix)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	// An environment variable stands in for a flag not given.
	set, err := lifecycle.SetFromEnv(fs, envPrefix, getenv)
	if err != nil {
		return cfg, "", err
	}
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return cfg, *configPath, fmt.Errorf("config: %w", err)
		}
		if err := decodeConfig(b, &cfg); err != nil {
			return cfg, *configPath, fmt.Errorf("config %s: %w", *configPath, err)
		}
	}
	if set["listen"] {
		cfg.Listen = *listen
	}
	if set["admin-listen"] {
		cfg.AdminListen = *admin
	}
	if set["log-format"] {
		cfg.LogFormat = *logFormat
	}
	if set["log-level"] {
		cfg.LogLevel = *logLevel
	}
	if set["shutdown-grace"] {
		cfg.ShutdownGrace = *grace
	}
	if set["shutdown-timeout"] {
		cfg.ShutdownTimeout = *drainLimit
	}
	if set["server-name"] {
		cfg.Proxy.ServerName = *serverName
	}
	if *origin != "" {
		cfg.Proxy.Routes = []proxy.Route{{Prefix: "/", Origin: *origin, Name: "origin"}}
	}
	if *cacheSize != "" {
		n, err := proxy.ParseByteSize(*cacheSize)
		if err != nil {
			return cfg, *configPath, fmt.Errorf("cache size: %w", err)
		}
		cfg.Proxy.Cache.MaxBytes = proxy.ByteSize(n)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return cfg, *configPath, fmt.Errorf("log format %q: want text or json", cfg.LogFormat)
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return cfg, *configPath, fmt.Errorf("log level %q: want debug, info, warn or error", cfg.LogLevel)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.ShutdownGrace < 0 {
		return cfg, *configPath, fmt.Errorf("shutdown grace %v is negative", cfg.ShutdownGrace)
	}
	if err := cfg.Proxy.Validate(); err != nil {
		return cfg, *configPath, err
	}
	return cfg, *configPath, nil
}

// decodeConfig decodes YAML strictly: an unknown field is an error, not a
// silently ignored typo.
func decodeConfig(b []byte, cfg *fileConfig) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
