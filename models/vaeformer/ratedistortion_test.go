package vaeformer_test

import (
	"strings"
	"testing"

	"github.com/qzoo/qzoo/baselines"
	"github.com/qzoo/qzoo/models/vaeformer"
)

// TestRateDistortionWholeFile: the codec's point is charged its whole .qzc file — more than
// its payload by the container's header and framing — and the peers include bit-rounding and
// ZFP on the field minus its mean.
func TestRateDistortionWholeFile(t *testing.T) {
	dir, _ := tinyRun(t)
	var log strings.Builder
	s, err := vaeformer.RateDistortion([]string{dir}, vaeformer.RDOptions{DataDir: dataDir, Hours: 16}, &log)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := vaeformer.LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer codec.Close()
	fields, g, lat := testFields(t, 48) // the tiny run's test split: the last 48 hours
	hw := g.H * g.W
	fields[0], g.T = fields[0][:16*hw], 16
	m, err := codec.Measure(fields, g, lat)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	var codecPoint *baselines.Point
	for i, p := range s.Points["t2m"] {
		methods[p.Method] = true
		if baselines.IsCodec(p) {
			codecPoint = &s.Points["t2m"][i]
		}
	}
	if codecPoint == nil {
		t.Fatalf("no codec point among %v", methods)
	}
	// The header holds the run's path, the normalisation, the coordinates and attributes:
	// hundreds of bytes.
	if extra := codecPoint.Bytes - len(m.Payload); extra < 200 || extra > 4000 {
		t.Errorf("codec point %d bytes, payload %d: the whole file should add its header and framing (%d bytes added)", codecPoint.Bytes, len(m.Payload), extra)
	}
	if codecPoint.Errors != m.Errors[0] {
		t.Errorf("codec point errors %+v, measured %+v", codecPoint.Errors, m.Errors[0])
	}
	for _, want := range []string{baselines.DemeanMethod(baselines.MethodZFP), baselines.DemeanMethod(baselines.BitRoundMethod(baselines.CoderZstd19)), baselines.MethodZFP} {
		if !methods[want] {
			t.Errorf("no %s points (methods %v)", want, methods)
		}
	}
	if !strings.Contains(log.String(), "whole file") || !strings.Contains(log.String(), "header") {
		t.Errorf("log does not break the file down:\n%s", log.String())
	}
}
