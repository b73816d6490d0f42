package vaeformer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/framework/sweep"
	"github.com/qzoo/qzoo/plots"
)

// ReportRateDistortion is the climate study's report (configs/climate/study.json): every run of
// the study against the peers of package baselines on the held-out split (RateDistortion, peers
// timed 3 times), as baselines.Study's Summary and the first channel's figure. The measurement
// is kept under the study's root, keyed by the run directories and rdMeasurement, so a rerun redraws it.
const ReportRateDistortion = "climate_rd"

// rdMeasurement names what RateDistortion measures, in the key of the kept measurement: a
// measurement kept by an older RateDistortion (the codec's payload alone, no demeaned peers)
// is measured again rather than read back.
const rdMeasurement = "whole .qzc file; raw and demeaned peers"

func init() {
	sweep.RegisterReport(ReportRateDistortion, sweep.Report{
		Doc:    "the codec runs (their whole .qzc files) against ZFP and bit-rounding, raw and on the field minus its mean, and linear packing on the held-out split: every rate–distortion point, the gain over the best peer at the codec's RMSE, RMSE against bits per value",
		Render: rateDistortionReport,
	})
}

func rateDistortionReport(ctx *sweep.Context, points []sweep.Point) (string, plots.Figure, error) {
	var dirs []string
	for _, p := range points {
		dirs = append(dirs, p.Dir)
	}
	sum := sha256.Sum256([]byte(rdMeasurement + "\n" + strings.Join(dirs, "\n")))
	path := filepath.Join(ctx.Dir, ReportRateDistortion+"-"+hex.EncodeToString(sum[:])[:12]+".json")
	s, err := baselines.ReadJSON(path)
	if errors.Is(err, fs.ErrNotExist) {
		if s, err = RateDistortion(dirs, RDOptions{DataDir: ctx.DataDir, Repeats: 3}, ctx.Out); err == nil {
			err = s.WriteJSON(path)
		}
	}
	if err != nil {
		return "", plots.Figure{}, err
	}
	var b strings.Builder
	if err := s.Summary(&b); err != nil {
		return "", plots.Figure{}, err
	}
	fig, err := s.Figure(s.Channels[0])
	if err != nil {
		return "", plots.Figure{}, fmt.Errorf("vaeformer: %s: %w", path, err)
	}
	return b.String(), fig, nil
}
