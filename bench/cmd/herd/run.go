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

	"github.com/edgecache/edgecache/bench/herd"
)

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// run parses args, releases the herd and writes the report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("herd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: herd [flags] URL\n\nURL is one object not cached yet, on this machine.\n\nflags:")
		fs.PrintDefaults()
	}
	var cfg herd.Config
	fs.IntVar(&cfg.Clients, "n", 200, "clients in the herd, each on its own connection")
	fs.IntVar(&cfg.MaxClients, "max-clients", herd.DefaultMaxClients, "cap on -n")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "bound on the whole herd, dials to last body")
	fs.StringVar(&cfg.OriginCountURL, "origin-count-url", "", "URL returning the origin's request count as a number, read before and after")
	fs.StringVar(&cfg.MetricsURL, "metrics", "", "Prometheus endpoint to read the origin request counter from, before and after")
	fs.StringVar(&cfg.MetricName, "metric", herd.DefaultMetricName, "counter summed over all its series from -metrics")
	fs.DurationVar(&cfg.Settle, "settle", 250*time.Millisecond, "wait after the herd before reading the counter again")
	fs.StringVar(&cfg.AllowHost, "allow-host", "", "allow this one non-loopback host (exact name)")
	fs.StringVar(&cfg.Sum, "sum", herd.SumSHA256, "checksum each client takes of its body: sha256, or crc32c (ten times cheaper, for a herd on the edge's own machine)")
	jsonFile := fs.String("json", "", "also write the JSON report to this file")
	format := fs.String("format", "table", "stdout format: table or json")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one object URL, got %d arguments", errUsage, fs.NArg())
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
	rep, err := herd.Run(ctx, cfg, log)
	if err != nil {
		return err
	}
	if *jsonFile != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(stdout)
}
