package sweep

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/qzoo/qzoo/plots"
	"gonum.org/v1/plot/plotter"
)

// Table renders the points as a Markdown table in grid order: one column per axis, then one
// per metric of the spec (4 significant digits).
func (s *Spec) Table(points []Point) string {
	var b strings.Builder
	header := append(s.axisKeys(), s.Metrics...)
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString(strings.Repeat("|---", len(s.Axes)) + strings.Repeat("|---:", len(s.Metrics)) + "|\n")
	for _, p := range points {
		cells := make([]string, 0, len(header))
		for _, a := range s.Axes {
			cells = append(cells, p.Coords.Value(a.Key))
		}
		for _, m := range s.Metrics {
			if v, ok := p.Metrics[m]; ok {
				cells = append(cells, strconv.FormatFloat(v, 'g', 4, 64))
			} else {
				cells = append(cells, "—")
			}
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}

// Plot draws the spec's figure from the points: one panel per metric against the x axis,
// one line per value of the series axis, in the spec's order (without a series axis, one
// unnamed line per panel, without a legend).
func (s *Spec) Plot(points []Point) (plots.Figure, error) {
	f := s.Figure
	if f == nil {
		return plots.Figure{}, errors.New("sweep: the spec has no figure")
	}
	seriesNames := []string{""}
	if series := s.axis(f.Series); series != nil {
		seriesNames = seriesNames[:0]
		for _, v := range series.Values {
			text, _, _ := valueText(v)
			seriesNames = append(seriesNames, text)
		}
	}
	xLabel := f.XLabel
	if xLabel == "" {
		xLabel = f.X
	}
	fig := plots.Figure{}
	for _, panel := range f.Panels {
		scale, label := panel.Scale, panel.Label
		if scale == 0 {
			scale = 1
		}
		if label == "" {
			label = panel.Metric
		}
		pl := plots.Panel{Title: panel.Title, XLabel: xLabel, YLabel: label, LogX: f.LogX}
		for _, name := range seriesNames {
			// Without a series axis the panel's one line is named by its y label: no legend.
			line := plots.Series{Name: name}
			for _, p := range points {
				if f.Series != "" && p.Coords.Value(f.Series) != name {
					continue
				}
				x, err := strconv.ParseFloat(p.Coords.Value(f.X), 64)
				if err != nil {
					return plots.Figure{}, fmt.Errorf("sweep: point %s: x axis %q: %w", p.Coords, f.X, err)
				}
				y, ok := p.Metrics[panel.Metric]
				if !ok {
					return plots.Figure{}, fmt.Errorf("sweep: point %s: no metric %q to plot", p.Coords, panel.Metric)
				}
				line.Points = append(line.Points, plotter.XY{X: x, Y: scale * y})
			}
			if len(line.Points) > 0 {
				pl.Series = append(pl.Series, line)
			}
		}
		fig.Panels = append(fig.Panels, pl)
	}
	return fig, nil
}
