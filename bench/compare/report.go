package compare

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

func med(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func wrkMed(rs []WrkResult, f func(WrkResult) float64) float64 {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, f(r))
	}
	return med(xs)
}

func herdMed(rs []HerdResult, f func(HerdResult) float64) float64 {
	var xs []float64
	for _, r := range rs {
		xs = append(xs, f(r))
	}
	return med(xs)
}

// pairedOverFloor is the median over rounds of an edge's TTFB p99 less
// that of the floor measured in the same round. Rounds either side lacks
// are left out; with none in common it is NaN.
func pairedOverFloor(edge, floor []HerdResult) float64 {
	var xs []float64
	for i := 0; i < len(edge) && i < len(floor); i++ {
		xs = append(xs, edge[i].TTFBp99Ms-floor[i].TTFBp99Ms)
	}
	if len(xs) == 0 {
		return math.NaN()
	}
	return med(xs)
}

// sameRoundRatios are edge's figure f over other's in each round both
// ran, in round order: the loads are interleaved round by round, so a
// round's two figures share the machine's state, which the medians of
// the table do not pair.
func sameRoundRatios(edge, other []WrkResult, f func(WrkResult) float64) []float64 {
	var xs []float64
	for i := 0; i < len(edge) && i < len(other); i++ {
		if d := f(other[i]); d > 0 {
			xs = append(xs, f(edge[i])/d)
		}
	}
	return xs
}

// roundRatios renders sameRoundRatios as "1.22x, 1.19x, 1.32x (median
// 1.22x)", or "" with none.
func roundRatios(xs []float64) string {
	if len(xs) == 0 {
		return ""
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.2fx", x)
	}
	return fmt.Sprintf("%s (median %.2fx)", strings.Join(parts, ", "), med(xs))
}

// overFloor is the format of a row of differences over a floor.
const overFloor = "%+.0f"

func ttfb99(h HerdResult) float64 { return h.TTFBp99Ms }

// rounds names how many rounds a median was taken over.
func rounds(n int) string {
	if n == 1 {
		return "one round"
	}
	return fmt.Sprintf("median of %d rounds", n)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// Markdown renders the report: one table per load, every figure with
// edgecache's ratio against nginx and Varnish.
func (r *Report) Markdown(command string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# edgecache against nginx and Varnish\n\n")
	p("- Date: %s (took %s)\n- Machine: %s\n- Command: `%s`\n", r.Started.Format("2006-01-02 15:04 MST"), r.Duration, r.Machine, command)
	p("- Versions: nginx `%s`, Varnish `%s`, wrk `%s`, %s\n", r.Versions["nginx"], r.Versions["varnish"], r.Versions["wrk"], r.Versions["go"])
	p("- Mode: %s. Edges: nginx (seed `proxy_cache`, lock off), nginx-lock (`proxy_cache_lock on`), Varnish (`-s malloc,1G`, same TTLs), edgecache (the equivalent config); all in front of the same origins on loopback, loads interleaved round by round.\n\n", map[bool]string{true: "quick", false: "full"}[r.Quick])

	type row struct {
		name string
		vals map[string]float64
		fmt  string
		high bool // higher is better
	}
	table := func(title string, rows []row) {
		p("## %s\n\n| | %s | edgecache / nginx | edgecache / Varnish |\n|---|%s---|---|\n", title, strings.Join(r.Servers, " | "), strings.Repeat("---|", len(r.Servers)))
		for _, rw := range rows {
			p("| %s |", rw.name)
			for _, s := range r.Servers {
				p(" "+rw.fmt+" |", rw.vals[s])
			}
			if rw.fmt == overFloor {
				// A ratio of two differences means nothing.
				p(" n/a | n/a |\n")
				continue
			}
			p(" %s | %s |\n", ratio(rw.vals["edgecache"], rw.vals["nginx"]), ratio(rw.vals["edgecache"], rw.vals["varnish"]))
		}
		p("\n")
	}
	collect := func(f func(string) float64) map[string]float64 {
		m := map[string]float64{}
		for _, s := range r.Servers {
			m[s] = f(s)
		}
		return m
	}
	for _, load := range []struct {
		title string
		data  map[string][]WrkResult
	}{{"Hot 1.2 MB segment (wrk -t2 -c64 --latency, median of rounds)", r.HotSegment}, {"Hot ~230 B playlist (wrk -t2 -c64 --latency, median of rounds)", r.HotPlaylist}} {
		d := load.data
		table(load.title, []row{
			{"req/s", collect(func(s string) float64 { return wrkMed(d[s], func(w WrkResult) float64 { return w.ReqPerSec }) }), "%.0f", true},
			{"req per server CPU-second", collect(func(s string) float64 { return wrkMed(d[s], func(w WrkResult) float64 { return w.ReqPerCPUSec }) }), "%.0f", true},
			{"req per machine CPU-second, less wrk's", collect(func(s string) float64 {
				return wrkMed(d[s], func(w WrkResult) float64 { return w.ReqPerMachineCPUSec })
			}), "%.0f", true},
			{"latency p50 ms", collect(func(s string) float64 { return wrkMed(d[s], func(w WrkResult) float64 { return w.LatencyMs["50%"] }) }), "%.2f", false},
			{"latency p99 ms", collect(func(s string) float64 { return wrkMed(d[s], func(w WrkResult) float64 { return w.LatencyMs["99%"] }) }), "%.2f", false},
			{"errors + non-2xx", collect(func(s string) float64 {
				return wrkMed(d[s], func(w WrkResult) float64 { return float64(w.Errors + w.NonSuccessful) })
			}), "%.0f", false},
		})
		var same []string
		for _, other := range []struct{ key, name string }{{"nginx", "nginx"}, {"varnish", "Varnish"}} {
			if rr := roundRatios(sameRoundRatios(d["edgecache"], d[other.key], func(w WrkResult) float64 { return w.ReqPerCPUSec })); rr != "" {
				same = append(same, other.name+" "+rr)
			}
		}
		if len(same) > 0 {
			p("Round by round, edgecache's req per server CPU-second over the same round's: %s.\n\n", strings.Join(same, "; "))
		}
	}
	if len(r.Mix) > 0 {
		mix := func(f func(MixResult) float64) map[string]float64 {
			return collect(func(s string) float64 {
				var xs []float64
				for _, m := range r.Mix[s] {
					xs = append(xs, f(m))
				}
				return med(xs)
			})
		}
		table("Realistic mix: each of 64 connections alternates a playlist reload and the next of 20 segments of 1-5 MB (wrk -t2 -c64, median of rounds)", []row{
			{"server CPU-s per GB sent", mix(func(m MixResult) float64 { return m.CPUPerGB }), "%.2f", false},
			{"GB sent per second", mix(func(m MixResult) float64 {
				if m.ReqPerSec == 0 || m.Requests == 0 {
					return 0
				}
				return m.GB / (float64(m.Requests) / m.ReqPerSec)
			}), "%.2f", true},
			{"latency p99 ms", mix(func(m MixResult) float64 { return m.LatencyMs["99%"] }), "%.2f", false},
			{"errors + non-2xx", mix(func(m MixResult) float64 { return float64(m.Errors + m.NonSuccessful) }), "%.0f", false},
		})
	}
	if len(r.Floor) > 0 {
		p("## Plain Go net/http on the same hot loads (no cache, no routing, no metrics)\n\n")
		p("The floor of any server on Go's net/http: a handler writing the same bytes from memory, in its own process, in the same rounds, with edgecache's default socket send buffer (%d KiB).\n\n", FloorSendBuffer()>>10)
		p("| | go-floor req/s | edgecache req/s | edgecache / floor | go-floor req per CPU-s | edgecache req per CPU-s | edgecache / floor |\n|---|---|---|---|---|---|---|\n")
		for _, l := range []struct {
			name string
			data []WrkResult
		}{{"segment", r.HotSegment["edgecache"]}, {"playlist", r.HotPlaylist["edgecache"]}} {
			fr := r.Floor[l.name]
			rps := func(w WrkResult) float64 { return w.ReqPerSec }
			cpu := func(w WrkResult) float64 { return w.ReqPerCPUSec }
			p("| hot %s | %.0f | %.0f | %s | %.0f | %.0f | %s |\n", l.name,
				wrkMed(fr, rps), wrkMed(l.data, rps), ratio(wrkMed(l.data, rps), wrkMed(fr, rps)),
				wrkMed(fr, cpu), wrkMed(l.data, cpu), ratio(wrkMed(l.data, cpu), wrkMed(fr, cpu)))
		}
		p("\n")
	}
	for _, load := range []struct {
		title string
		data  map[string][]HerdResult
		floor bool // measured in the rounds with the no-cache floor
	}{{fmt.Sprintf("Herd: 200 clients at once on an uncached 4 MB object sent at 4 MB/s (%s)", rounds(len(r.HerdFloor))), r.Herd4MB, true}, {"Herd: 200 clients at once on an uncached 20 MB object sent at 2 MB/s", r.Herd20MB, false}} {
		if len(load.data) == 0 {
			continue
		}
		d := load.data
		rows := []row{
			{"origin fetches", collect(func(s string) float64 { return herdMed(d[s], func(h HerdResult) float64 { return h.OriginFetches }) }), "%.0f", false},
			{"TTFB p50 ms", collect(func(s string) float64 { return herdMed(d[s], func(h HerdResult) float64 { return h.TTFBp50Ms }) }), "%.0f", false},
			{"TTFB p99 ms", collect(func(s string) float64 { return herdMed(d[s], ttfb99) }), "%.0f", false},
		}
		for _, f := range []struct {
			name string
			rs   []HerdResult
		}{{"no-cache floor", r.HerdFloor}, {"streaming floor", r.HerdStreamFloor}} {
			// Issue 17: what the edge adds to the waiters' first byte over
			// the same clients straight from the origin, on a small object
			// (no body to stream) and streaming this one with no cache.
			if len(f.rs) == 0 || !load.floor {
				continue
			}
			fl := herdMed(f.rs, ttfb99)
			rows = append(rows, row{fmt.Sprintf("TTFB p99 over the %s (%.0f ms) ms", f.name, fl), collect(func(s string) float64 {
				return herdMed(d[s], ttfb99) - fl
			}), overFloor, false})
		}
		if load.floor && len(r.HerdFloor) > 0 {
			// The floor moves from round to round as much as the edges do
			// (13 to 42 ms in one run): each edge round against the floor
			// measured just before it, beside the goal's row above.
			rows = append(rows, row{"TTFB p99 over the same round's no-cache floor, median of rounds, ms", collect(func(s string) float64 {
				return pairedOverFloor(d[s], r.HerdFloor)
			}), overFloor, false})
		}
		table(load.title, append(rows, []row{
			{"completion p99 ms", collect(func(s string) float64 { return herdMed(d[s], func(h HerdResult) float64 { return h.DoneP99Ms }) }), "%.0f", false},
			{"all bodies identical by CRC-32C and size (1 = yes)", collect(func(s string) float64 {
				return herdMed(d[s], func(h HerdResult) float64 {
					if h.Identical {
						return 1
					}
					return 0
				})
			}), "%.0f", true},
		}...))
		if len(r.HerdStreamFloor) > 0 && load.floor {
			p("The streaming floor is the same 200 clients fetching the same 4 MB object straight from the origin at the same rate, with no cache: TTFB p99 %.0f ms, completion p99 %.0f ms (%s).\n\n",
				herdMed(r.HerdStreamFloor, ttfb99),
				herdMed(r.HerdStreamFloor, func(h HerdResult) float64 { return h.DoneP99Ms }), rounds(len(r.HerdStreamFloor)))
		}
	}
	table("Expiry: origin fetches while 64 connections hammer an object across one expiry (median of rounds)", []row{
		{"origin fetches", collect(func(s string) float64 {
			var xs []float64
			for _, x := range r.Expiry[s] {
				xs = append(xs, float64(x.OriginFetches))
			}
			return med(xs)
		}), "%.0f", false},
	})
	table("Memory after caching distinct 2 MiB objects", []row{
		{"cached MiB", collect(func(s string) float64 { return r.RSS[s].CachedMiB }), "%.0f", false},
		{"RSS growth + cache files MiB", collect(func(s string) float64 { return r.RSS[s].GrowthMiB }), "%.0f", false},
		{"growth per cached byte", collect(func(s string) float64 { return r.RSS[s].GrowthPerCache }), "%.2f", false},
	})
	table("Live viewers (bench viewer simulator, HLS demo stream): largest count with zero rebuffering", []row{
		{"viewers", collect(func(s string) float64 { return float64(r.MaxViewers[s]) }), "%.0f", true},
	})
	p("Viewer ladder per edge (viewers: rebuffer events, overall rebuffer ratio, never started, HTTP errors; the simulator's own CPU in cores):\n\n")
	for _, s := range r.Servers {
		var parts []string
		for _, st := range r.Viewers[s] {
			parts = append(parts, fmt.Sprintf("%d: %d, %.3f, %d, %d; sim %.2f", st.Viewers, st.Rebuffers, st.RebufferRatio, st.NeverStarted, st.Errors, st.SimulatorCores))
		}
		p("- %s: %s\n", s, strings.Join(parts, "; "))
	}
	if len(r.LLHLS) > 0 {
		p("\n")
		ll := func(f func(LLResult) float64) map[string]float64 {
			return collect(func(s string) float64 { return f(r.LLHLS[s]) })
		}
		var any LLResult
		for _, x := range r.LLHLS {
			if x.Viewers > any.Viewers {
				any = x
			}
		}
		table(fmt.Sprintf("LL-HLS: %d viewers with blocking reloads and preload hints, %.0f s, in front of the packager (parts of 333 ms)", any.Viewers, any.Seconds), []row{
			{"origin blocking playlist reloads", ll(func(x LLResult) float64 { return float64(x.OriginBlocking) }), "%.0f", false},
			{"...per part per rendition", ll(func(x LLResult) float64 { return x.PerPart }), "%.2f", false},
			{"origin part requests", ll(func(x LLResult) float64 { return float64(x.OriginParts) }), "%.0f", false},
			{"origin other playlist requests", ll(func(x LLResult) float64 { return float64(x.OriginPlaylist) }), "%.0f", false},
			{"viewer playlist hold p50 ms", ll(func(x LLResult) float64 { return x.HoldP50Ms }), "%.0f", false},
			{"viewer playlist hold p99 ms", ll(func(x LLResult) float64 { return x.HoldP99Ms }), "%.0f", false},
			{"viewer part hold p50 ms", ll(func(x LLResult) float64 { return x.PartHoldP50Ms }), "%.0f", false},
			{"HTTP errors", ll(func(x LLResult) float64 { return float64(x.Errors) }), "%.0f", false},
			{"live latency p50 ms", ll(func(x LLResult) float64 { return x.LatencyP50Ms }), "%.0f", false},
			{"rebuffer events", ll(func(x LLResult) float64 { return float64(x.Rebuffers) }), "%.0f", false},
		})
		if len(r.LLLadder) > 0 {
			p("LL-HLS ladder per edge, until a rung is not clean (viewers: rebuffer events, never started, HTTP errors, playlist hold p99 ms, live latency p50 ms; the simulator's own CPU in cores):\n\n")
			for _, s := range r.Servers {
				var parts []string
				for _, x := range r.LLLadder[s] {
					parts = append(parts, fmt.Sprintf("%d: %d, %d, %d, %.0f, %.0f; sim %.2f", x.Viewers, x.Rebuffers, x.NeverStarted, x.Errors, x.HoldP99Ms, x.LatencyP50Ms, x.SimulatorCores))
				}
				p("- %s: %s\n", s, strings.Join(parts, "; "))
			}
			p("\n")
		}
		p("What each does with a blocking request: nginx keys it by its query; with the lock off every viewer's miss goes to the origin and is held there, with the lock on one goes and the others poll the lock every 500 ms, so they get the answer up to half a second late (see the part hold). Varnish puts requests for the same URL on its waiting list behind one backend fetch, so it also sends about one per target, and wakes the waiters when it returns; it cannot answer a target from a newer playlist it holds under another URL, nor give the 400s itself. edgecache holds the viewers itself, answers from any cached playlist that reaches the target, sends one request per (rendition, target), and prefetches the hinted part.\n\n")
	}
	if len(r.Errors) > 0 {
		p("\n## Errors during the run\n\n")
		for _, e := range r.Errors {
			p("- %s\n", e)
		}
	}
	return b.String()
}
