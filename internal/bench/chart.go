package bench

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// ChartSeries is one line of a chart panel.
type ChartSeries struct {
	Name string
	X, Y []float64
}

// ChartPanel is one plot of a chart: a line per series over a
// logarithmic x axis (service counts).
type ChartPanel struct {
	Title, XLabel, YLabel string
	Series                []ChartSeries
}

// chartColors tells the paths apart; a series past the end reuses them
// with another dash pattern.
var chartColors = []color.Color{
	color.RGBA{R: 0x44, G: 0x44, B: 0x44, A: 0xff}, // direct: grey
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// WriteChartPNG draws the panels side by side into a PNG of width x height
// pixels.
func WriteChartPNG(w io.Writer, panels []ChartPanel, width, height int) error {
	if len(panels) == 0 || width < 100 || height < 100 {
		return errors.New("chart: need a panel and at least 100x100 pixels")
	}
	const dpi = 96
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(width)*vg.Inch/dpi, vg.Length(height)*vg.Inch/dpi), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	row := make([]*plot.Plot, len(panels))
	for i, p := range panels {
		pl, err := panelPlot(p)
		if err != nil {
			return err
		}
		row[i] = pl
	}
	tiles := draw.Tiles{Rows: 1, Cols: len(panels), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, pl := range row {
		pl.Draw(canvases[0][i])
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("chart: encode png: %w", err)
	}
	return nil
}

func panelPlot(p ChartPanel) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text, pl.Y.Label.Text = p.XLabel, p.YLabel
	pl.X.Scale = plot.LogScale{}
	pl.Legend.Top = true
	pl.Legend.Left = true
	pl.Add(plotter.NewGrid())
	var ticks []plot.Tick
	seen := map[float64]bool{}
	ymax := 0.0
	for i, s := range p.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("chart: series %s: %d x values, %d y values", s.Name, len(s.X), len(s.Y))
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if s.X[j] <= 0 || math.IsNaN(s.Y[j]) {
				continue // log axis; missing figure
			}
			xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			ymax = max(ymax, s.Y[j])
			if !seen[s.X[j]] {
				seen[s.X[j]] = true
				ticks = append(ticks, plot.Tick{Value: s.X[j], Label: strconv.FormatFloat(s.X[j], 'f', -1, 64)})
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("chart: series %s: %w", s.Name, err)
		}
		c := chartColors[i%len(chartColors)]
		line.Color, line.Width = c, vg.Points(2)
		if i >= len(chartColors) {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		points.Color, points.Shape = c, draw.CircleGlyph{}
		pl.Add(line, points)
		pl.Legend.Add(s.Name, line, points)
	}
	pl.X.Tick.Marker = plot.ConstantTicks(ticks)
	pl.Y.Min = 0
	pl.Y.Max = ymax * 1.15
	if ymax == 0 {
		pl.Y.Max = 1
	}
	switch len(ticks) {
	case 0: // nothing measured: an empty panel over one decade
		pl.X.Min, pl.X.Max = 1, 10
	case 1:
		// A log axis needs a range: widen a single point by a decade.
		pl.X.Min, pl.X.Max = ticks[0].Value/3, ticks[0].Value*3
	}
	return pl, nil
}

// Chart returns the benchmark's panels: TCP throughput (4 streams),
// keep-alive requests/s, new connections/s and the CPU time per new
// connection (the steady figure on a shared machine) against the service
// count, one line per path.
func (r *ServicesResult) Chart() []ChartPanel {
	var paths []string
	for _, s := range r.Summary {
		if !containsString(paths, s.Path) {
			paths = append(paths, s.Path)
		}
	}
	panel := func(title, ylabel, test string, value func(Figures) float64) ChartPanel {
		p := ChartPanel{Title: title, XLabel: "services (log scale)", YLabel: ylabel}
		for _, path := range paths {
			s := ChartSeries{Name: path}
			for _, n := range r.counts() {
				row, ok := r.find(path, n)
				f, ok2 := row.Tests[test]
				if !ok || !ok2 || row.Error != "" {
					continue
				}
				s.X, s.Y = append(s.X, float64(n)), append(s.Y, value(f))
			}
			p.Series = append(p.Series, s)
		}
		return p
	}
	rate := func(f Figures) float64 { return f.Rate }
	thousands := func(f Figures) float64 { return f.Rate / 1000 }
	return []ChartPanel{
		panel("TCP throughput, 4 streams", "Gbit/s", TestStream4, rate),
		panel("HTTP keep-alive requests", "thousand req/s", TestRR, thousands),
		panel("New connections (1 request each)", "thousand conn/s", TestConn, thousands),
		panel("CPU per new connection", "µs (servers + client, kernel included)", TestConn,
			func(f Figures) float64 { return f.CPUUs }),
	}
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// WritePNG writes the chart of r to path (1800 x 500 pixels).
func (r *ServicesResult) WritePNG(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteChartPNG(f, r.Chart(), 1800, 500); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
