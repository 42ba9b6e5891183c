// Command compare runs edgecache side by side with nginx and Varnish on
// loopback and writes a Markdown report and the raw JSON.
//
//	go run ./bench/cmd/compare [-quick] [-out bench/results]
//
// It expects nginx, varnishd, wrk and the edgecache and packager binaries
// (make bench-compare installs and builds them).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/edgecache/edgecache/bench/compare"
)

func main() {
	quick := flag.Bool("quick", false, "the under-three-minutes mode")
	out := flag.String("out", "bench/results", "directory for the report")
	bin := flag.String("bin", "bin", "directory with the edgecache and packager binaries")
	replot := flag.String("replot", "", "re-render the Markdown and plots of an earlier run's JSON, without running anything")
	features := flag.Bool("features", false, "measure the operator features instead (access log off/file/stdout, CAT and secure_link checks) on the hot loads, same run")
	soak := flag.Duration("soak", 0, "hold a constant load with cache churn on edgecache alone for this long (10m for issue 17), sampling its RSS, instead of the comparison")
	floor := flag.String("serve-floor", "", "serve the plain net/http baseline of the hot loads on this loopback address (the harness starts this itself)")
	flag.Parse()
	if *floor != "" {
		serveFloor(*floor)
		return
	}
	if *replot != "" {
		b, err := os.ReadFile(*replot)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var rep compare.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		write(&rep, strings.TrimSuffix(*replot, ".json"), rep.Command)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The quick run under 3 minutes; the full one had 20 until the viewer
	// ladders went on to each edge's breaking point (issue 17).
	limit := 25 * time.Minute
	if *quick {
		limit = 3 * time.Minute
	}
	if *soak > 0 {
		limit = *soak + 2*time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *features {
		runFeatures(ctx, *bin, *out, *quick, log)
		return
	}
	if *soak > 0 {
		runSoak(ctx, *bin, *out, *soak, log)
		return
	}
	self, err := os.Executable()
	if err != nil {
		log.Warn("no plain net/http baseline: cannot find this executable", "err", err)
	}
	rep, err := compare.Run(ctx, compare.Options{Quick: *quick, Bin: *bin, Self: self, Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
	mode := "full"
	if *quick {
		mode = "quick"
	}
	base := filepath.Join(*out, fmt.Sprintf("compare-%s-%s", rep.Started.Format("2006-01-02"), mode))
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rep.Command = strings.TrimSpace("bench/compare.sh " + strings.Join(os.Args[1:], " "))
	j, _ := json.MarshalIndent(rep, "", " ")
	os.WriteFile(base+".json", j, 0o644)
	write(rep, base, rep.Command)
}

// serveFloor runs compare.FloorHandler until SIGTERM or SIGINT.
func serveFloor(addr string) {
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "serve-floor: %q is not a loopback address\n", addr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: compare.FloorHandler(), ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-floor:", err)
		os.Exit(1)
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(compare.FloorListener(ln)); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "serve-floor:", err)
		os.Exit(1)
	}
}

// write renders the Markdown report and its plots next to base.
func write(rep *compare.Report, base, command string) {
	plots, err := rep.Plots(base)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plots:", err)
	}
	md := rep.Markdown(command)
	for _, p := range plots {
		md += fmt.Sprintf("\n![%s](%s)\n", filepath.Base(p), filepath.Base(p))
	}
	os.WriteFile(base+".md", []byte(md), 0o644)
	fmt.Print(md)
	fmt.Fprintln(os.Stderr, "wrote", base+".md", plots)
}

// runSoak runs compare.RunSoak and writes soak-DATE.md/.json. It fails
// when RSS grew by more than 2% after the warm-up.
func runSoak(ctx context.Context, bin, out string, d time.Duration, log *slog.Logger) {
	rep, err := compare.RunSoak(ctx, compare.Options{Bin: bin, Log: log}, d, 15*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	writeReport(out, "soak", rep.Started, rep, rep.Markdown)
	if rep.RSSFirst == 0 || rep.Growth > 0.02 {
		fmt.Fprintln(os.Stderr, "soak: no verdict, or RSS grew more than 2% at constant load")
		os.Exit(1)
	}
}

// runFeatures runs compare.RunFeatures and writes features-DATE.md/.json.
func runFeatures(ctx context.Context, bin, out string, quick bool, log *slog.Logger) {
	rounds, d := 3, 10*time.Second
	if quick {
		rounds, d = 1, 5*time.Second
	}
	rep, err := compare.RunFeatures(ctx, compare.Options{Bin: bin, Log: log}, rounds, d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "features:", err)
		os.Exit(1)
	}
	writeReport(out, "features", rep.Started, rep, rep.Markdown)
}

// writeReport writes rep as out/NAME-DATE.json and its Markdown (given
// the command line) as out/NAME-DATE.md, and prints the Markdown.
func writeReport(out, name string, started time.Time, rep any, markdown func(command string) string) {
	command := strings.TrimSpace("go run ./bench/cmd/compare " + strings.Join(os.Args[1:], " "))
	base := filepath.Join(out, name+"-"+started.Format("2006-01-02"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	j, _ := json.MarshalIndent(rep, "", " ")
	os.WriteFile(base+".json", j, 0o644)
	md := markdown(command)
	os.WriteFile(base+".md", []byte(md), 0o644)
	fmt.Print(md)
}
