package vaeformer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/qzoo/qzoo/entropy"
)

// The decoder-reproduced path pinned, with no backend and no trained run: an entropy model from
// fixed weights (float32 values from an integer generator, the same on every machine), its
// tables, h_s on fixed hyper-latents, each latent's table and the two coded streams. Its hash
// was taken before the host math was made portable (Go's math package on amd64 with FMA), so
// it checks both that this machine's bytes did not change and, run on another GOARCH (the
// scripts/check-portable.sh run under qemu) or with the assembly and FMA switched off, that
// every machine computes the same bytes.

// pinnedDecoderPath is decoderPathHash's result.
const pinnedDecoderPath = "934bb794015117873039cafeb0495b6b75e6007abfa5035f3bbc61dd87407c1e"

// fixedEntropyModel is an entropy model of c_y = 16, c_z = 8, h_d = 64 with weights drawn
// uniformly (rounded to float32, as a checkpoint stores them) from a fixed seed.
func fixedEntropyModel(t testing.TB) *EntropyModel {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	uniform := func(n int, a float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = float64(float32(float64((float64(2*rng.Float64()) - 1) * a))) // rounded: no fusion
		}
		return v
	}
	m := &EntropyModel{cy: 16, cz: 8, hd: 64}
	dense := func(in, out int) denseGo {
		return denseGo{in: in, out: out, w: uniform(in*out, 2/math.Sqrt(float64(in))), b: uniform(out, 0.5)}
	}
	m.hsIn, m.hsSplit, m.hsOut = dense(m.cz, m.hd), dense(m.hd, 4*m.hd), dense(m.hd, 2*m.cy)
	k := len(densityFilters) - 1
	layers := make([]rawDensityLayer, k)
	for i := range k {
		in, out := densityFilters[i], densityFilters[i+1]
		layers[i].h, layers[i].b = uniform(m.cz*out*in, 2), uniform(m.cz*out, 3)
		if i < k-1 {
			layers[i].a = uniform(m.cz*out, 2)
		}
	}
	if err := m.init(layers); err != nil {
		t.Fatal(err)
	}
	return m
}

// decoderPathHash is the sha256 of everything fixedEntropyModel's decoder reproduces: every
// table's frequencies, h_s's means and raw scales for 3 windows of a 5×7 token grid (hyper-
// latents in −8..8; the grid's odd sides leave 2×2 merges partly outside), each latent's bank
// index, and the coded hyper-latent and latent streams (which it checks decode).
func decoderPathHash(t testing.TB, m *EntropyModel) string {
	t.Helper()
	h := sha256.New()
	put := func(v uint64) { h.Write(binary.LittleEndian.AppendUint64(nil, v)) }
	tables := func(ts []*entropy.Table) {
		for _, tb := range ts {
			put(uint64(tb.Lo()))
			for v := tb.Lo(); v <= tb.Hi(); v++ {
				put(uint64(tb.Freq(v)))
			}
		}
	}
	tables(m.zTables)
	tables(m.bank)
	rng := rand.New(rand.NewPCG(13, 14))
	const n, nh, nw = 3, 5, 7
	mh, mw := (nh+1)/2, (nw+1)/2
	zs := make([]int, n*mh*mw*m.cz)
	for i := range zs {
		zs[i] = rng.IntN(17) - 8
	}
	mean, raw := m.hyperSynthesis(zs, n, mh, mw, nh, nw)
	ys := make([]int, len(mean))
	for i := range mean {
		put(math.Float64bits(mean[i]))
		put(math.Float64bits(raw[i]))
		put(uint64(m.lookup.index(raw[i])))
		ys[i] = rng.IntN(21) - 10
	}
	zStream, err := entropy.Encode(zs, m.zTablesOf(len(zs)))
	if err != nil {
		t.Fatal(err)
	}
	yTables := m.yTablesOf(raw)
	yStream, err := entropy.Encode(ys, yTables)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := entropy.Decode(zStream, m.zTablesOf(len(zs))); err != nil || !slices.Equal(got, zs) {
		t.Fatalf("hyper-latents do not decode: %v", err)
	}
	if got, err := entropy.Decode(yStream, yTables); err != nil || !slices.Equal(got, ys) {
		t.Fatalf("latents do not decode: %v", err)
	}
	h.Write(zStream)
	h.Write(yStream)
	return hex.EncodeToString(h.Sum(nil))
}

// TestDecoderPathPinned: the decoder-reproduced path gives the pinned bytes.
func TestDecoderPathPinned(t *testing.T) {
	if got := decoderPathHash(t, fixedEntropyModel(t)); got != pinnedDecoderPath {
		t.Fatalf("decoder path sha256 %s, pinned %s", got, pinnedDecoderPath)
	}
}
