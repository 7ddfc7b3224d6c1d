package bench

import (
	"bytes"
	"image/png"
	"math"
	"testing"
)

func TestWriteChartPNG(t *testing.T) {
	res := &ServicesResult{Summary: []PathResult{
		{Path: "direct", Services: 1, Tests: map[string]Figures{TestStream4: {Rate: 14}, TestRR: {Rate: 52000}, TestConn: {Rate: 6000}}},
		{Path: "iptables", Services: 1, Tests: map[string]Figures{TestStream4: {Rate: 13}, TestRR: {Rate: 50000}, TestConn: {Rate: 5500}}},
		{Path: "direct", Services: 1000, Tests: map[string]Figures{TestStream4: {Rate: 14}, TestRR: {Rate: 51000}, TestConn: {Rate: 6100}}},
		{Path: "iptables", Services: 1000, Tests: map[string]Figures{TestStream4: {Rate: 12}, TestRR: {Rate: 48000}, TestConn: {Rate: 3000}}},
		{Path: "iptables", Services: 10000, Error: "failed"},
	}}
	tests := []struct {
		name   string
		panels []ChartPanel
		w, h   int
	}{
		{"benchmark", res.Chart(), 1800, 500},
		{"single point", []ChartPanel{{Title: "x", Series: []ChartSeries{{Name: "a", X: []float64{1}, Y: []float64{3}}}}}, 400, 300},
		{"empty panel", []ChartPanel{{Title: "nothing"}, {Title: "no points", Series: []ChartSeries{{Name: "a"}}}}, 400, 200},
		{"missing figures", []ChartPanel{{Title: "x", Series: []ChartSeries{{Name: "a", X: []float64{1, 10}, Y: []float64{math.NaN(), 0}}, {Name: "empty"}}}}, 300, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteChartPNG(&b, tt.panels, tt.w, tt.h); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&b)
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Bounds().Size(); got.X != tt.w || got.Y != tt.h {
				t.Errorf("PNG is %dx%d, want %dx%d", got.X, got.Y, tt.w, tt.h)
			}
		})
	}
	if err := WriteChartPNG(&bytes.Buffer{}, nil, 100, 100); err == nil {
		t.Error("no panels: no error")
	}
	if err := WriteChartPNG(&bytes.Buffer{}, []ChartPanel{{Series: []ChartSeries{{X: []float64{1}}}}}, 200, 200); err == nil {
		t.Error("mismatched series: no error")
	}
}

func TestChartSeries(t *testing.T) {
	res := &ServicesResult{Summary: []PathResult{
		{Path: "direct", Services: 1, Tests: map[string]Figures{TestConn: {Rate: 6000}}},
		{Path: "nftables", Services: 1, Tests: map[string]Figures{TestConn: {Rate: 5000}}},
		{Path: "nftables", Services: 50000, Tests: map[string]Figures{TestConn: {Rate: 4000}}},
	}}
	p := res.Chart()[2]
	if len(p.Series) != 2 || p.Series[1].Name != "nftables" || len(p.Series[1].X) != 2 || p.Series[1].Y[1] != 4 {
		t.Errorf("conn panel = %+v", p)
	}
}
