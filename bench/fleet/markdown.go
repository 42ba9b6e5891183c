package fleet

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report as bench/results/ keeps them.
func (r *Report) WriteMarkdown(w io.Writer, command string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Fleet test, %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", command)
	topo := fmt.Sprintf("2 packagers (demo stream) -> %d shields -> %d edges", r.Shields, r.Edges)
	if r.Shields == 0 {
		topo = fmt.Sprintf("2 packagers (demo stream) -> %d edges (no shield)", r.Edges)
	}
	origins := "one origin per route: shields fill from packager1 only, each edge from one shield"
	if r.MultiOrigin {
		origins = "`origins:`: shields fill from packager1 (primary) and packager2 (backup); edges from every shield by rendezvous hash"
	}
	fmt.Fprintf(&b, "Topology: %s, each on its own loopback address; %s. Viewers run %.0f s.\n\n", topo, origins, r.DurationS)
	b.WriteString("## Events\n\n| at (s) | what | error |\n|---:|---|---|\n")
	for _, e := range r.Events {
		fmt.Fprintf(&b, "| %.1f | %s | %s |\n", e.AtS, e.What, e.Err)
	}
	b.WriteString("\n## Results\n\n| measure | value |\n|---|---:|\n")
	o := r.Origin
	fmt.Fprintf(&b, "| origin requests per segment | %.2f (%d requests, %d segments) |\n", o.PerSegment, o.SegmentReqs, o.Segments)
	fmt.Fprintf(&b, "| full segments asked 0,1,2,...,7+ times | %v |\n", o.SegmentReqHist)
	fmt.Fprintf(&b, "| origin requests per LL-HLS part | %.2f (%d requests, %d parts) |\n", o.PerPart, o.PartReqs, o.Parts)
	fmt.Fprintf(&b, "| origin requests per playlist version | %.2f (%d requests, %d versions, %d playlists) |\n", o.PerPlaylistVersion, o.PlaylistReqs, o.PlaylistVersions, o.Playlists)
	fmt.Fprintf(&b, "| origin playlist requests per second | %.1f |\n", o.PlaylistReqsPerSecS)
	fmt.Fprintf(&b, "| viewer rebuffer ratio (all viewers) | %.3f%% |\n", r.RebufferRatio*100)
	fmt.Fprintf(&b, "| largest playlist Age a viewer saw | %.0f s |\n", r.MaxPlaylistAgeS)
	fmt.Fprintf(&b, "| playlist loads that went backwards | %d |\n", r.Backwards)
	fmt.Fprintf(&b, "| failed viewer requests | %d |\n", r.FailedRequests)
	fmt.Fprintf(&b, "| of which in flight on the killed edge | %d |\n", r.LostOnKilledEdge)
	fmt.Fprintf(&b, "| failed viewer requests elsewhere (goal 0) | %d |\n", r.FailedRequests-r.LostOnKilledEdge)
	fmt.Fprintf(&b, "| viewers moved to another edge | %d |\n", r.Failovers)
	fmt.Fprintf(&b, "| two edges' LL-HLS playlists byte-identical | %v (%s) |\n", r.IdenticalEdges, r.IdenticalNote)
	fmt.Fprintf(&b, "| the two packagers name segments alike | %v |\n", r.PackagerSameURIs)
	if len(o.MostAsked) > 0 {
		fmt.Fprintf(&b, "\nMost asked of the packagers: %s.\n", strings.Join(o.MostAsked, ", "))
	}
	b.WriteString("\n## Viewers by protocol\n\n| protocol | viewers (played) | rebuffer events | rebuffer ratio | errors 4xx/5xx/net | backwards | moved | max Age (s) |\n|---|---:|---:|---:|---|---:|---:|---:|\n")
	for _, k := range []string{"hls", "llhls", "dash"} {
		v := r.Viewers[k]
		if v == nil {
			fmt.Fprintf(&b, "| %s | did not run | | | | | | |\n", k)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d (%d) | %d | %.3f%% | %d/%d/%d | %d | %d | %.0f |\n", k, v.Viewers.Requested, v.Viewers.Played,
			v.Rebuffer.Events, v.Rebuffer.OverallRatio*100, v.Errors.Status4xx, v.Errors.Status5xx, v.Errors.Network,
			v.Staleness.Backwards, v.Failovers, v.Staleness.AgeS.Max)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
