package compare

import (
	"fmt"
	"image/color"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plots writes the report's figures as PNG files beside base and returns
// their file names (base + suffix): latency CDFs of the hot loads and the
// viewer ladder's rebuffer ratio.
func (r *Report) Plots(base string) ([]string, error) {
	var files []string
	for _, load := range []struct {
		name, title string
		data        map[string][]WrkResult
	}{
		{"segment", "Hot 1.2 MB segment: latency CDF (wrk -c64, median round)", r.HotSegment},
		{"playlist", "Hot 230 B playlist: latency CDF (wrk -c64, median round)", r.HotPlaylist},
	} {
		p := plot.New()
		p.Title.Text = load.title
		p.X.Label.Text = "latency (ms)"
		p.Y.Label.Text = "fraction of requests"
		p.Y.Min, p.Y.Max = 0, 1
		var lines []any
		for _, s := range r.Servers {
			var pts plotter.XYs
			for _, q := range []struct {
				k string
				f float64
			}{{"50%", .5}, {"75%", .75}, {"90%", .9}, {"99%", .99}} {
				ms := wrkMed(load.data[s], func(w WrkResult) float64 { return w.LatencyMs[q.k] })
				if ms > 0 {
					pts = append(pts, plotter.XY{X: ms, Y: q.f})
				}
			}
			if len(pts) == 0 {
				continue
			}
			sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
			lines = append(lines, s, pts)
		}
		if len(lines) == 0 {
			continue
		}
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return files, fmt.Errorf("plot %s: %w", load.name, err)
		}
		p.Legend.Top, p.Legend.Left = false, false
		name := base + "-latency-" + load.name + ".png"
		if err := p.Save(7*vg.Inch, 4*vg.Inch, name); err != nil {
			return files, fmt.Errorf("plot %s: %w", load.name, err)
		}
		files = append(files, name)
	}

	p := plot.New()
	p.Title.Text = "Live viewers (HLS demo stream) against rebuffer ratio"
	p.X.Label.Text = "simulated viewers"
	p.Y.Label.Text = "overall rebuffer ratio"
	var lines []any
	for _, s := range r.Servers {
		var pts plotter.XYs
		for _, st := range r.Viewers[s] {
			pts = append(pts, plotter.XY{X: float64(st.Viewers), Y: st.RebufferRatio})
		}
		if len(pts) > 0 {
			lines = append(lines, s, pts)
		}
	}
	if len(lines) > 0 {
		if err := plotutil.AddLinePoints(p, lines...); err != nil {
			return files, fmt.Errorf("plot viewers: %w", err)
		}
		p.Y.Min = 0
		if p.Y.Max < 0.01 {
			p.Y.Max = 0.01 // a flat zero line still shows its scale
		}
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		p.BackgroundColor = color.White
		name := base + "-viewers.png"
		if err := p.Save(7*vg.Inch, 4*vg.Inch, name); err != nil {
			return files, fmt.Errorf("plot viewers: %w", err)
		}
		files = append(files, name)
	}
	return files, nil
}
