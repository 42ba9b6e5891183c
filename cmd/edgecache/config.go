package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/edgecache/edgecache/internal/edgeconfig"
	"github.com/edgecache/edgecache/internal/lifecycle"
	"github.com/edgecache/edgecache/proxy"
)

// envPrefix names the environment variables: every flag -foo-bar is also
// EDGECACHE_FOO_BAR.
const envPrefix = "EDGECACHE_"

// loadConfig builds the config, each layer over the one before: defaults,
// then the YAML file, then environment variables, then flags. So a flag
// beats its EDGECACHE_ variable, which beats the file. The file's path
// itself comes from -config or EDGECACHE_CONFIG. It returns the path, so
// the caller can watch the file.
func loadConfig(args []string, getenv func(string) (string, bool), stderr io.Writer) (edgeconfig.File, string, error) {
	cfg, path, _, err := parseArgs(args, getenv, stderr)
	return cfg, path, err
}

// command is what the command line asks for besides running the edge.
type command struct {
	version bool // print the version and exit
	check   bool // the config file was given to -check-config: check it and exit
}

// parseArgs is loadConfig that also reports the command asked for. With
// -check-config FILE, FILE is read as -config's would be, so it is checked
// exactly as a start would check it; the error names the file.
func parseArgs(args []string, getenv func(string) (string, bool), stderr io.Writer) (cfg edgeconfig.File, path string, cmd command, err error) {
	fs := flag.NewFlagSet("edgecache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	checkPath := fs.String("check-config", "", "check this config file as a start would, print the verdict and exit (like nginx -t)")
	fs.BoolVar(&cmd.version, "version", false, "print the version and exit")
	if getenv != nil {
		// What to do is the command line's word alone: an EDGECACHE_VERSION
		// set for some other purpose must not turn a start into a version
		// print.
		lookup := getenv
		getenv = func(k string) (string, bool) {
			if k == lifecycle.EnvName(envPrefix, "version") || k == lifecycle.EnvName(envPrefix, "check-config") {
				return "", false
			}
			return lookup(k)
		}
	}
	cfg, path, err = parseConfig(fs, args, getenv, checkPath)
	if *checkPath != "" {
		cmd.check = true
		if err != nil && !strings.Contains(err.Error(), *checkPath) {
			err = fmt.Errorf("config %s: %w", *checkPath, err)
		}
	}
	return cfg, path, cmd, err
}

// parseConfig defines the config flags on fs, parses args and builds the
// config. A non-empty *checkPath (a flag parsed with args) stands for
// -config.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) (string, bool), checkPath *string) (edgeconfig.File, string, error) {
	stderr := fs.Output()
	cfg := edgeconfig.Default()
	configPath := fs.String("config", "", "YAML config file (see edgecache.example.yaml)")
	listen := fs.String("listen", cfg.Listen, "address viewers connect to")
	admin := fs.String("admin-listen", cfg.AdminListen, "address of /metrics, /healthz, /readyz")
	origin := fs.String("origin", "", "proxy every path to this origin URL (a single route \"/\")")
	cacheSize := fs.String("cache-size", "", "RAM cache budget, e.g. 512MiB (default 512MiB)")
	serverName := fs.String("server-name", "", "this edge's name in Via, for loop detection (default the host name)")
	logFormat := fs.String("log-format", cfg.LogFormat, "log format: text or json")
	logLevel := fs.String("log-level", cfg.LogLevel, "log level: debug, info, warn, error")
	grace, drainLimit := new(time.Duration), new(time.Duration)
	*grace, *drainLimit = cfg.ShutdownGrace, cfg.ShutdownTimeout
	fs.Var(durationFlag{grace}, "shutdown-grace", "after a stop signal, keep serving for this `duration` with /readyz failing")
	accessLog := fs.String("access-log", cfg.AccessLog.Path, "access log: stdout, stderr, off, or a file (reopened on SIGUSR1)")
	purgeToken := fs.String("purge-token", "", "bearer token for POST /purge on the admin listener (prefer the environment variable: flags show in ps)")
	fs.Var(durationFlag{drainLimit}, "shutdown-timeout", "then let in-flight responses finish for at most this `duration`")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edgecache [flags]\n       edgecache import-nginx nginx.conf > edgecache.yaml   (translate an nginx edge config)\n\nEvery flag -foo-bar can also be set as %sFOO_BAR.\nPrecedence: flag, then environment, then the -config file, then the default.\n\n", envPrefix)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, "", err
	}
	if fs.NArg() > 0 {
		return cfg, "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *checkPath != "" {
		if *configPath != "" && *configPath != *checkPath {
			return cfg, "", fmt.Errorf("-check-config %s and -config %s: give one file", *checkPath, *configPath)
		}
		*configPath = *checkPath
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
		if err := edgeconfig.Decode(b, &cfg); err != nil {
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
	if set["access-log"] {
		cfg.AccessLog.Path = *accessLog
	}
	if set["purge-token"] {
		cfg.PurgeToken = *purgeToken
	}
	if cfg.PurgeTokenFile != "" {
		b, err := os.ReadFile(cfg.PurgeTokenFile)
		if err != nil {
			return cfg, *configPath, fmt.Errorf("purge_token_file: %w", err)
		}
		if !set["purge-token"] {
			cfg.PurgeToken = strings.TrimSpace(string(b))
		}
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
	if err := cfg.AccessLog.Validate(); err != nil {
		return cfg, *configPath, err
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
		if *configPath != "" {
			err = fmt.Errorf("config %s: %w", *configPath, err)
		}
		return cfg, *configPath, err
	}
	return cfg, *configPath, nil
}

// durationFlag is a duration flag that reads what the config file reads:
// Go's syntax or nginx's units (edgeconfig.ParseDuration).
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := edgeconfig.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}
