package vq

import (
	"testing"

	"github.com/qzoo/qzoo/quant/scheme"
)

func TestSchemes(t *testing.T) {
	for _, tc := range []struct {
		typ    string
		params map[string]any
		want   string
	}{
		{"vq", map[string]any{ParamCodebookSize: 1024}, "latents/vq codebook b10 K=1024 vector"},
		{"ema_vq", map[string]any{ParamCodebookSize: 256}, "latents/ema_vq codebook b8 K=256 vector"},
		{"simvq", map[string]any{ParamCodebookSize: 512}, "latents/simvq codebook b9 K=512 vector"},
		{"fsq", map[string]any{ParamFSQLevels: "8,5,5,5"}, "latents/fsq levels[8,5,5,5] b9.966 K=1000 vector"},
		{"lfq", map[string]any{ParamCodebookSize: 1024}, "latents/lfq sign b10 K=1024 vector"},
		{"rvq", map[string]any{ParamCodebookSize: 256, ParamResidualStages: 3}, "latents/rvq codebook b24 K=256×3 vector"},
		{"rvq", map[string]any{ParamResidualType: "fsq", ParamFSQLevels: "4,4", ParamResidualStages: 2}, "latents/rvq levels[4,4] b8 K=16×2 vector"},
		{"qlae", map[string]any{ParamQLAEDims: 8, ParamQLAEValues: 4}, "latents/qlae lut b16 vector"},
		{"binary", map[string]any{ParamCodebookSize: 256}, "latents/binary sign b8 K=256 vector"},
	} {
		if got := build(t, tc.typ, tc.params).Scheme().String(); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.typ, tc.params, got, tc.want)
		}
	}
}

// TestLatentStorage: 49 latents of 16 values at 10 bits are 490 bits, 0.625 bits per value.
func TestLatentStorage(t *testing.T) {
	s := build(t, "simvq", map[string]any{ParamCodebookSize: 1024}).Scheme()
	st := LatentStorage(s, 49, 16)
	if st != (scheme.Storage{Values: 49 * 16, Codes: 490}) || st.BitsPerValue() != 0.625 {
		t.Errorf("storage %+v (%v bits per value), want 490 bits of codes over 784 values", st, st.BitsPerValue())
	}
}
