package herd

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/edgecache/edgecache/bench/stats"
)

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "herd of %d on %s, released within %.1f ms\n", r.Clients, r.URL, r.ReleaseSpreadMs)
	if o := r.OriginFetches; o != nil {
		fmt.Fprintf(&b, "origin fetches: %g (%g -> %g, %s)\n", o.Delta, o.Before, o.After, o.Source)
	} else {
		b.WriteString("origin fetches: unknown (no -origin-count-url or -metrics)\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ms\tcount\tp50\tp90\tp99\tmax\t")
	row := func(name string, s stats.Summary) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, s.Count, s.P50, s.P90, s.P99, s.Max)
	}
	row("ttfb", r.TTFBMs)
	row("completion", r.CompletionMs)
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\nstatuses:")
	for _, k := range slices.Sorted(maps.Keys(r.Statuses)) {
		fmt.Fprintf(&b, " %s=%d", k, r.Statuses[k])
	}
	if len(r.CacheStatus) > 0 {
		b.WriteString("; X-Cache-Status:")
		for _, k := range slices.Sorted(maps.Keys(r.CacheStatus)) {
			fmt.Fprintf(&b, " %s=%d", k, r.CacheStatus[k])
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("; errors:")
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(&b, " %s=%d", k, r.Errors[k])
		}
	}
	verdict := "identical"
	if !r.Identical {
		verdict = "NOT identical"
	}
	fmt.Fprintf(&b, "\nbodies: %s, %d distinct\n", verdict, len(r.Bodies))
	for _, x := range r.Bodies {
		sum := "sha256 " + x.SHA256
		if x.CRC32C != "" {
			sum = "crc32c " + x.CRC32C
		}
		fmt.Fprintf(&b, "  %s  %d bytes  status %d  %d clients\n", sum, x.Size, x.Status, x.Clients)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
