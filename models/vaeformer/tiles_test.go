package vaeformer_test

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/vaeformer"
)

// TestTiledRoundTrip: the UK grid (9×13 tokens) forced into tiles of 2×2 tokens with a halo
// of 1 codes deterministically into a payload that records its tiling, within 3% of the
// estimated bits, and decodes (with the codec's own tiling set otherwise: the payload's counts)
// to fields whose error is close to the untiled code's; corrupt tiled payloads are refused or
// decode, never panic.
func TestTiledRoundTrip(t *testing.T) {
	dir, _ := tinyRun(t)
	c, err := vaeformer.LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fields, g, lat := testFields(t, 37) // 10 windows of 4: chunks of 4, 4 and 2 (padded)
	whole, _, err := c.Compress(fields, g)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := c.Decompress(whole, g)
	if err != nil {
		t.Fatal(err)
	}
	c.Tiling = vaeformer.Tiling{Core: 2, Halo: 1}
	p1, st, err := c.Compress(fields, g)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := c.Compress(fields, g)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1, p2) || p1[0] != 0 || bytes.Equal(p1, whole) {
		t.Fatalf("tiled payloads: equal %v, first byte %d, same as untiled %v", bytes.Equal(p1, p2), p1[0], bytes.Equal(p1, whole))
	}
	if d := 8*float64(len(p1))/st.EstimatedBits - 1; math.Abs(d) > 0.03 {
		t.Errorf("payload %d bytes vs %.0f estimated bits: %+.2f%%", len(p1), st.EstimatedBits, 100*d)
	}
	c.Tiling = vaeformer.DefaultTiling
	got, _, err := c.Decompress(p1, g)
	if err != nil {
		t.Fatal(err)
	}
	w := metrics.LatCosWeights(lat)
	eT, err := metrics.CompareFields(fields[0], got[0], []int{g.T, g.H, g.W}, w)
	if err != nil {
		t.Fatal(err)
	}
	eW, err := metrics.CompareFields(fields[0], ref[0], []int{g.T, g.H, g.W}, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RMSE untiled %.4f K (%d bytes), tiles of 2 + halo 1: %.4f K (%d bytes)", eW.RMSE, len(whole), eT.RMSE, len(p1))
	if !(eT.RMSE < 1.5*eW.RMSE+0.2) {
		t.Errorf("tiled RMSE %v K, untiled %v K", eT.RMSE, eW.RMSE)
	}
	for cut := 1; cut < min(len(p1), 40); cut += 3 {
		if _, _, err := c.Decompress(p1[:cut], g); err != nil && !errors.Is(err, vaeformer.ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v does not wrap ErrCorrupt", cut, err)
		}
	}
	bad := slices.Clone(p1)
	bad[1] = 3 // an odd core
	if _, _, err := c.Decompress(bad, g); !errors.Is(err, vaeformer.ErrCorrupt) {
		t.Fatalf("odd core: %v", err)
	}
}
