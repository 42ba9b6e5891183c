package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/edgecache/edgecache/internal/edgeconfig"
)

// cli runs the command's real main logic (realMain, no child process) and
// returns its exit status and output. The context is already cancelled:
// a case that would start the edge stops at once.
func cli(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var out, errOut syncBuffer
	code = realMain(ctx, args, getenv, &out, &errOut, signals{})
	return code, out.String(), errOut.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		stdout     string // a part of it
		stderr     string // a part of it
		stdoutNone bool
	}{
		{name: "-h prints usage, exits 0", args: []string{"-h"}, stderr: "Usage: edgecache", stdoutNone: true},
		{name: "-help too", args: []string{"-help"}, stderr: "-check-config", stdoutNone: true},
		{name: "-version", args: []string{"-version"}, stdout: "edgecache "},
		{name: "-version with a broken config still answers", env: map[string]string{"EDGECACHE_CONFIG": "/nonexistent.yaml"}, args: []string{"-version"}, stdout: "edgecache "},
		{name: "an unknown flag exits 1", args: []string{"-nope"}, code: 1, stderr: "flag provided but not defined: -nope"},
		// The environment never picks the command: EDGECACHE_VERSION set
		// for another purpose leaves this a start (which fails: no route).
		{name: "EDGECACHE_VERSION is not -version", env: map[string]string{"EDGECACHE_VERSION": "true"}, code: 1, stderr: "route", stdoutNone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) || tc.stdoutNone && stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestVersionString(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "edgecache (unknown version)"},
		{"module version", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "edgecache v1.2.3"},
		{"devel with revision", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}}, true, "edgecache (devel) abc123"},
		{"modified checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-2026"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}, true, "edgecache v0.0.0-2026 abc123 (modified)"},
		{"empty version", &debug.BuildInfo{}, true, "edgecache (devel)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := version(tc.bi, tc.ok); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	const route = "routes:\n  - prefix: /\n    origin: http://origin:8088\n"
	for _, tc := range []struct {
		name   string
		file   string // "" means the shipped example
		code   int
		stderr []string // parts the reason must have, besides the file name
	}{
		{name: "the shipped example", code: 0},
		{name: "a route and defaults", file: route, code: 0},
		{name: "no route", file: "listen: \":8081\"\n", code: 1, stderr: []string{"route"}},
		{name: "a route without origin", file: "routes:\n  - prefix: /\n", code: 1, stderr: []string{"origin"}},
		{name: "bad yaml", file: "routes: [\n", code: 1, stderr: []string{"yaml"}},
		{name: "bad log format", file: route + "log_format: xml\n", code: 1, stderr: []string{"log format"}},
		{name: "bad byte size", file: route + "cache:\n  max_bytes: lots\n", code: 1, stderr: []string{"lots"}},
		{name: "typo at the top", file: route + "listne: \":1\"\n", code: 1,
			stderr: []string{`line 4: unknown field "listne"`, `did you mean "listen"?`}},
		{name: "typo in a section", file: route + "cache:\n  max_bytez: 1MiB\n", code: 1,
			stderr: []string{`line 5: unknown field "max_bytez" in cache`, `did you mean "max_bytes"?`}},
		{name: "typo in a list item", file: "routes:\n  - prefix: /\n    orgin: http://o\n", code: 1,
			stderr: []string{`line 3: unknown field "orgin" in routes[0]`, `did you mean "origin"?`}},
		{name: "typo in a map value", file: route + "classes:\n  segment:\n    tll: 1s\n", code: 1,
			stderr: []string{`line 6: unknown field "tll" in classes.segment`, `did you mean "ttl"?`}},
		{name: "nothing near", file: route + "zzzzzzzz: 1\n", code: 1,
			stderr: []string{`line 4: unknown field "zzzzzzzz"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "../../deploy/edgecache.example.yaml"
			if tc.file != "" {
				path = writeConfig(t, tc.file)
			}
			code, stdout, stderr := cli(t, nil, "-check-config", path)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, tc.code, stdout, stderr)
			}
			if code == 0 {
				if !strings.Contains(stdout, path) || !strings.Contains(stdout, "ok") || stderr != "" {
					t.Errorf("stdout %q, stderr %q; want the file named ok", stdout, stderr)
				}
				return
			}
			for _, want := range append([]string{path}, tc.stderr...) {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
			if tc.name == "nothing near" && strings.Contains(stderr, "did you mean") {
				t.Errorf("suggested something far: %q", stderr)
			}
		})
	}
}

// TestCheckConfigIsAStart: a file -check-config accepts starts, and one it
// refuses fails the start with the same reason: both run the one loader.
func TestCheckConfigIsAStart(t *testing.T) {
	bad := writeConfig(t, "routes:\n  - prefix: /\n    origin: http://o\ncache:\n  max_object_bytes: 2GiB\n  max_bytes: 1MiB\n")
	_, _, checkErr := cli(t, nil, "-check-config", bad)
	_, _, startErr := cli(t, nil, "-config", bad, "-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0")
	if checkErr == "" || checkErr != startErr {
		t.Errorf("check says %q, start says %q", checkErr, startErr)
	}
}

func TestUnknownFieldError(t *testing.T) {
	var cfg edgeconfig.File
	err := edgeconfig.Decode([]byte("origin:\n  fill_timout: 1s\n"), &cfg)
	var uf *edgeconfig.UnknownFieldError
	if !errors.As(err, &uf) || uf.Line != 2 || uf.Field != "fill_timout" || uf.Path != "origin" || uf.Suggestion != "fill_timeout" {
		t.Fatalf("got %#v (%v)", uf, err)
	}
}
