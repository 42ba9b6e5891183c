package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/edgecache/edgecache/bench/viewer"
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run parses args, runs the viewers and writes the report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("viewers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: viewers [flags] URL\n\nURL is an HLS multivariant or media playlist or a DASH MPD on this machine.\n\nflags:")
		fs.PrintDefaults()
	}
	var cfg viewer.Config
	fs.IntVar(&cfg.Viewers, "n", 10, "number of viewers")
	fs.IntVar(&cfg.MaxViewers, "max-viewers", viewer.DefaultMaxViewers, "cap on -n")
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "length of the run, ramp included")
	fs.DurationVar(&cfg.Ramp, "ramp", 0, "viewers join evenly over this long (0: all at once)")
	fs.BoolVar(&cfg.Flash, "flash", false, "everyone joins at once (a flash crowd)")
	fs.StringVar(&cfg.Rendition, "rendition", "random", "lowest, highest, random, or a 0-based index in document order")
	fs.IntVar(&cfg.StartBuffer, "start-buffer", 1, "segments (parts with -llhls) buffered before playback starts")
	fs.BoolVar(&cfg.LLHLS, "llhls", false, "LL-HLS: blocking playlist reloads, parts and preload hints")
	fs.StringVar(&cfg.OriginURL, "origin", "", "the same stream straight from the origin, to measure how far behind the edge's playlists are")
	fs.StringVar(&cfg.AllowHost, "allow-host", "", "allow this one non-loopback host (exact name)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed for -rendition random (0: from the clock)")
	fs.DurationVar(&cfg.RequestTimeout, "timeout", 10*time.Second, "per-request timeout")
	progress := fs.Duration("progress", time.Second, "progress line interval on stderr (0: none)")
	jsonFile := fs.String("json", "", "also write the JSON report to this file")
	format := fs.String("format", "table", "stdout format: table or json")
	verbose := fs.Bool("v", false, "log each viewer's trouble (debug level)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one stream URL, got %d arguments", errUsage, fs.NArg())
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("%w: -format %q: want table or json", errUsage, *format)
	}
	cfg.URL = fs.Arg(0)
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	var line progressLine
	if *progress > 0 {
		line = progressLine{w: stderr, tty: isTerminal(stderr)}
		cfg.ProgressInterval = *progress
		cfg.Progress = line.print
	}
	rep, err := viewer.Run(ctx, cfg, log)
	line.end()
	if err != nil {
		return err
	}
	if *jsonFile != "" {
		if err := writeJSONFile(*jsonFile, rep); err != nil {
			return err
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(stdout)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// progressLine prints viewer.Progress on one line that rewrites itself
// on a terminal, and as plain lines otherwise.
type progressLine struct {
	w       io.Writer
	tty     bool
	printed bool
}

func (p *progressLine) print(s viewer.Progress) {
	text := fmt.Sprintf("%6.1fs  viewers %d active / %d joined  %.1f req/s  rebuffers %d  p99 ttfb %.1f ms",
		s.Elapsed.Seconds(), s.Active, s.Joined, s.ReqPerSec, s.Rebuffers, float64(s.P99TTFB)/float64(time.Millisecond))
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", text)
	} else {
		fmt.Fprintln(p.w, text)
	}
	p.printed = true
}

func (p *progressLine) end() {
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
