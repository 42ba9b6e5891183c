package viewer

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgecache/edgecache/bench/stats"
)

// Report is what a run measured. It marshals to JSON as is; durations are
// in the unit their field name ends with. Percentiles are across viewers
// for per-viewer values (startup, rebuffering) and across samples for the
// rest (requests, playlist loads, latency samples once a second per
// viewer).
type Report struct {
	URL         string    `json:"url"`
	Protocol    string    `json:"protocol"` // "hls" or "dash"
	LLHLS       bool      `json:"llhls"`
	Started     time.Time `json:"started"`
	ElapsedS    float64   `json:"elapsed_s"`
	Interrupted bool      `json:"interrupted"` // ended by the caller before Duration

	Viewers    ViewerCounts   `json:"viewers"`
	Renditions map[string]int `json:"renditions"` // playlist path or Representation id -> viewers

	// StartupMs: from a viewer's first request to playback start.
	StartupMs stats.Summary  `json:"startup_ms"`
	Rebuffer  RebufferReport `json:"rebuffer"`
	// DownloadRatio: segment (or part) download time over its duration;
	// above 1 the viewer cannot keep up.
	DownloadRatio stats.Summary `json:"download_ratio"`
	// TTFBMs by object class: playlist, init, segment, part.
	TTFBMs map[string]stats.Summary `json:"ttfb_ms"`
	// HoldMs: time to first byte of requests the server holds on purpose
	// (LL-HLS blocking playlist reloads, preload hints), by class.
	HoldMs    map[string]stats.Summary `json:"hold_ms,omitempty"`
	Errors    ErrorReport              `json:"errors"`
	Staleness StalenessReport          `json:"staleness"`
	// LiveLatencyMs: wall clock minus the capture time of the frame
	// playing (EXT-X-PROGRAM-DATE-TIME, or availabilityStartTime plus
	// presentation time in DASH).
	LiveLatencyMs stats.Summary `json:"live_latency_ms"`

	// SimulatorCPUS is the CPU time (user+system) the simulator's process
	// used during the run, and SimulatorCoresPer1000 that as cores busy
	// per 1000 joined viewers: what simulating costs, on the cores the
	// edge may share. The whole process is counted, so anything else it
	// runs meanwhile is in it.
	SimulatorCPUS         float64 `json:"simulator_cpu_s"`
	SimulatorCoresPer1000 float64 `json:"simulator_cores_per_1000_viewers"`

	Requests int64         `json:"requests"`
	Bytes    int64         `json:"bytes"`
	Segments SegmentCounts `json:"segments"`
	// Failovers: times a viewer moved to another of Config.Hosts because
	// its own refused connections.
	Failovers int64 `json:"failovers"`
	// LostOnDeadHost: of the failed requests, those that were in flight on
	// a host that then refused connections: it died with them.
	LostOnDeadHost int64 `json:"lost_on_dead_host"`
}

// ViewerCounts says how many viewers did what.
type ViewerCounts struct {
	Requested    int `json:"requested"`
	Joined       int `json:"joined"`
	Played       int `json:"played"`        // playback started
	NeverStarted int `json:"never_started"` // joined but never played
}

// RebufferReport is the stalls: events counted across the run, and per
// viewer distributions.
type RebufferReport struct {
	Events          int64         `json:"events"`
	ViewersAffected int           `json:"viewers_affected"`
	PerViewer       stats.Summary `json:"per_viewer"`
	// Ratio per viewer: stalled / (played + stalled).
	Ratio stats.Summary `json:"ratio"`
	// OverallRatio: all viewers' stalled time over all their played and
	// stalled time.
	OverallRatio float64       `json:"overall_ratio"`
	StalledMs    stats.Summary `json:"stalled_ms"`
}

// ErrorReport counts failed requests: responses other than 200/206 by
// status class, and network errors (refused, reset, timed out, cut-off
// body). Requests cut short by the end of the run are not counted.
type ErrorReport struct {
	Status4xx int64                       `json:"4xx"`
	Status5xx int64                       `json:"5xx"`
	Network   int64                       `json:"network"`
	ByClass   map[string]map[string]int64 `json:"by_class,omitempty"`
}

// StalenessReport is how old the playlists viewers got were.
type StalenessReport struct {
	// AgeS: the Age header of playlist/MPD responses that had one.
	AgeS stats.Summary `json:"age_s"`
	// SequenceLag: at each playlist load, how many segments the newest
	// one listed is behind the newest known (the origin's with
	// -origin, else the newest any viewer has seen).
	SequenceLag  stats.Summary `json:"sequence_lag"`
	LagReference string        `json:"lag_reference"` // "origin" or "viewers"
	// Backwards: playlist loads whose newest segment (HLS: the last Media
	// Sequence Number; DASH: the MPD's publishTime) was older than one the
	// same viewer had already loaded (RFC 8216bis 6.2.2 forbids it). A
	// stream restart counts too.
	Backwards int64 `json:"backwards"`
}

// SegmentCounts counts media objects.
type SegmentCounts struct {
	Downloaded int64 `json:"downloaded"` // segments and parts
	// Skipped: never played because they fell out of the playlist window
	// before the viewer got to them, failed twice, or were GAPs.
	Skipped int64 `json:"skipped"`
}

const toMs = 1000

func (rs *runState) report(started time.Time, elapsed time.Duration) *Report {
	rec := rs.rec
	rep := &Report{
		URL:            rs.cfg.URL,
		Protocol:       rs.kind.String(),
		LLHLS:          rs.cfg.LLHLS && rs.kind == kindHLS,
		Started:        started,
		ElapsedS:       elapsed.Seconds(),
		TTFBMs:         make(map[string]stats.Summary),
		Requests:       rec.requests.Load(),
		Bytes:          rec.bytes.Load(),
		Segments:       SegmentCounts{Downloaded: rec.segments.Load(), Skipped: rec.skipped.Load()},
		Failovers:      rec.failovers.Load(),
		LostOnDeadHost: rec.lostOnDeadHost.Load(),
		Staleness: StalenessReport{
			AgeS:         rec.age.Summary(),
			SequenceLag:  rec.lag.Summary(),
			LagReference: "viewers",
			Backwards:    rec.backwards.Load(),
		},
		DownloadRatio: rec.dlRatio.Summary(),
		LiveLatencyMs: rec.latency.Summary().Scale(toMs),
	}
	if rs.cfg.OriginURL != "" {
		rep.Staleness.LagReference = "origin"
	}
	for c := range numClasses {
		if s := rec.ttfb[c].Summary(); s.Count > 0 {
			rep.TTFBMs[c.String()] = s.Scale(toMs)
		}
		if s := rec.hold[c].Summary(); s.Count > 0 {
			if rep.HoldMs == nil {
				rep.HoldMs = make(map[string]stats.Summary)
			}
			rep.HoldMs[c.String()] = s.Scale(toMs)
		}
		for e := range numErrClasses {
			n := rec.errs[c][e].Load()
			if n == 0 {
				continue
			}
			switch e {
			case err4xx:
				rep.Errors.Status4xx += n
			case err5xx:
				rep.Errors.Status5xx += n
			case errNetwork:
				rep.Errors.Network += n
			}
			if rep.Errors.ByClass == nil {
				rep.Errors.ByClass = make(map[string]map[string]int64)
			}
			if rep.Errors.ByClass[c.String()] == nil {
				rep.Errors.ByClass[c.String()] = make(map[string]int64)
			}
			rep.Errors.ByClass[c.String()][errClassNames[e]] = n
		}
	}

	rec.mu.Lock()
	outcomes := slices.Clone(rec.outcomes)
	rep.Renditions = maps.Clone(rec.renditions)
	rec.mu.Unlock()
	rep.Viewers = ViewerCounts{Requested: rs.cfg.Viewers, Joined: len(outcomes)}
	var startup, perViewer, ratio, stalled []float64
	var totalStalled, totalPlayed time.Duration
	for _, o := range outcomes {
		if !o.started {
			rep.Viewers.NeverStarted++
			continue
		}
		rep.Viewers.Played++
		startup = append(startup, o.startup.Seconds()*toMs)
		perViewer = append(perViewer, float64(o.rebuffers))
		ratio = append(ratio, o.ratio)
		stalled = append(stalled, o.stalled.Seconds()*toMs)
		totalStalled += o.stalled
		totalPlayed += o.played
		rep.Rebuffer.Events += int64(o.rebuffers)
		if o.rebuffers > 0 {
			rep.Rebuffer.ViewersAffected++
		}
	}
	rep.StartupMs = stats.Summarize(startup)
	rep.Rebuffer.PerViewer = stats.Summarize(perViewer)
	rep.Rebuffer.Ratio = stats.Summarize(ratio)
	rep.Rebuffer.StalledMs = stats.Summarize(stalled)
	if totalPlayed+totalStalled > 0 {
		rep.Rebuffer.OverallRatio = float64(totalStalled) / float64(totalPlayed+totalStalled)
	}
	return rep
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	kind := r.Protocol
	if r.LLHLS {
		kind = "ll-hls"
	}
	fmt.Fprintf(&b, "%d viewers of %s (%s) for %.1fs", r.Viewers.Requested, r.URL, kind, r.ElapsedS)
	if r.Interrupted {
		b.WriteString(" (interrupted)")
	}
	fmt.Fprintf(&b, "\njoined %d, playing %d, never started %d", r.Viewers.Joined, r.Viewers.Played, r.Viewers.NeverStarted)
	if len(r.Renditions) > 0 {
		b.WriteString("; renditions:")
		for _, k := range slices.Sorted(maps.Keys(r.Renditions)) {
			fmt.Fprintf(&b, " %s=%d", k, r.Renditions[k])
		}
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tcount\tp50\tp90\tp99\tmax\t")
	row := func(name string, s stats.Summary, format string) {
		if s.Count == 0 {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t-\t-\t\n", name)
			return
		}
		f := func(v float64) string { return fmt.Sprintf(format, v) }
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", name, s.Count, f(s.P50), f(s.P90), f(s.P99), f(s.Max))
	}
	row("startup (ms)", r.StartupMs, "%.0f")
	row("rebuffers per viewer", r.Rebuffer.PerViewer, "%.0f")
	row("rebuffer ratio (%)", r.Rebuffer.Ratio.Scale(100), "%.2f")
	row("stalled per viewer (ms)", r.Rebuffer.StalledMs, "%.0f")
	row("download time / duration", r.DownloadRatio, "%.3f")
	for _, c := range classNames {
		if s, ok := r.TTFBMs[c]; ok {
			row("ttfb "+c+" (ms)", s, "%.1f")
		}
	}
	for _, c := range classNames {
		if s, ok := r.HoldMs[c]; ok {
			row("hold "+c+" (ms)", s, "%.1f")
		}
	}
	row("playlist Age (s)", r.Staleness.AgeS, "%.0f")
	row("sequence lag vs "+r.Staleness.LagReference, r.Staleness.SequenceLag, "%.0f")
	row("live latency (ms)", r.LiveLatencyMs, "%.0f")
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nrebuffer events %d in %d viewers, overall ratio %.3f%%\n",
		r.Rebuffer.Events, r.Rebuffer.ViewersAffected, r.Rebuffer.OverallRatio*100)
	fmt.Fprintf(&b, "errors: 4xx %d, 5xx %d, network %d", r.Errors.Status4xx, r.Errors.Status5xx, r.Errors.Network)
	for _, c := range classNames {
		if m, ok := r.Errors.ByClass[c]; ok {
			fmt.Fprintf(&b, "; %s:", c)
			for _, e := range errClassNames {
				if n := m[e]; n > 0 {
					fmt.Fprintf(&b, " %s=%d", e, n)
				}
			}
		}
	}
	rate := 0.0
	if r.ElapsedS > 0 {
		rate = float64(r.Requests) / r.ElapsedS
	}
	fmt.Fprintf(&b, "\nrequests %d (%.1f/s), %s; segments downloaded %d, skipped %d\n",
		r.Requests, rate, humanBytes(r.Bytes), r.Segments.Downloaded, r.Segments.Skipped)
	if r.Failovers > 0 || r.Staleness.Backwards > 0 {
		fmt.Fprintf(&b, "host failovers %d (requests lost in flight on a dead host %d); playlist loads that went backwards %d\n", r.Failovers, r.LostOnDeadHost, r.Staleness.Backwards)
	}
	fmt.Fprintf(&b, "simulator CPU %.1f s (%.2f cores per 1000 viewers)\n", r.SimulatorCPUS, r.SimulatorCoresPer1000)
	_, err := io.WriteString(w, b.String())
	return err
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
