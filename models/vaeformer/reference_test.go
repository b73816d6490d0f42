package vaeformer

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/entropy"
	"github.com/qzoo/qzoo/internal/detmath"
)

// The codec as it was before it was made fast (2026-12-07): chunks of 8 windows, one after the
// other, with everything on one goroutine, and h_s position by position. Compress and
// Decompress must give the same bytes and values (TestCodecMatchesReference).

// referenceChunk was the fixed number of windows per backend call.
const referenceChunk = 8

// ReferenceCompress is the former Codec.Compress.
func (c *Codec) ReferenceCompress(fields [][]float32, g Geometry) ([]byte, Stats, error) {
	if err := c.checkFields(fields, g); err != nil {
		return nil, Stats{}, err
	}
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz := c.Entropy.cy, c.Entropy.cz
	ny, nz := nh*nw*cy, mh*mw*cz
	mu := make([]float32, 0, n*ny)
	zc := make([]float32, 0, n*nz)
	for w0 := 0; w0 < n; w0 += referenceChunk {
		x := make([]float32, referenceChunk*c.Window*len(fields)*g.H*g.W)
		c.fillWindows(x, fields, g, w0, referenceChunk)
		out, err := c.analysis.Exec(tensors.FromFlatDataAndDimensions(x, referenceChunk, c.Window, len(fields), g.H, g.W))
		if err != nil {
			return nil, Stats{}, fmt.Errorf("vaeformer: analysis: %w", err)
		}
		m := tensors.MustCopyFlatData[float32](out[0])
		z := tensors.MustCopyFlatData[float32](out[1])
		k := min(referenceChunk, n-w0)
		mu = append(mu, m[:k*ny]...)
		zc = append(zc, z[:k*nz]...)
		for _, t := range out {
			t.FinalizeAll()
		}
	}
	zs := make([]int, len(zc))
	var st Stats
	for i, v := range zc {
		zs[i] = int(math.Round(float64(v)))
		st.ZBits -= math.Log2(c.Entropy.zLikelihood(i%cz, zs[i]))
	}
	mean, scale := c.Entropy.referenceHyperSynthesis(zs, n, mh, mw, nh, nw)
	ys := make([]int, len(mu))
	for i, v := range mu {
		r := math.Round(float64(v) - mean[i])
		ys[i] = int(r)
		st.YBits += gaussianBits(r, scale[i])
	}
	zStream, err := entropy.Encode(zs, c.Entropy.zTablesOf(len(zs)))
	if err != nil {
		return nil, Stats{}, err
	}
	yStream, err := entropy.Encode(ys, c.Entropy.referenceYTablesOf(scale))
	if err != nil {
		return nil, Stats{}, err
	}
	payload := binary.AppendUvarint(nil, uint64(len(zStream)))
	payload = append(append(payload, zStream...), yStream...)
	st.Values = g.T * g.H * g.W * len(c.Channels)
	st.PayloadBytes = len(payload)
	st.EstimatedBits = st.YBits + st.ZBits
	return payload, st, nil
}

// ReferenceDecompress is the former Codec.Decompress.
func (c *Codec) ReferenceDecompress(payload []byte, g Geometry) ([][]float32, error) {
	n, nh, nw, mh, mw := c.dims(g)
	cy, cz := c.Entropy.cy, c.Entropy.cz
	zLen, k := binary.Uvarint(payload)
	if k <= 0 || zLen > uint64(len(payload)-k) {
		return nil, fmt.Errorf("%w: hyper-latent stream length header invalid", ErrCorrupt)
	}
	zStream, yStream := payload[k:k+int(zLen)], payload[k+int(zLen):]
	zs, err := entropy.Decode(zStream, c.Entropy.zTablesOf(n*mh*mw*cz))
	if err != nil {
		return nil, err
	}
	mean, scale := c.Entropy.referenceHyperSynthesis(zs, n, mh, mw, nh, nw)
	ys, err := entropy.Decode(yStream, c.Entropy.referenceYTablesOf(scale))
	if err != nil {
		return nil, err
	}
	dec, err := c.decoderExec(g)
	if err != nil {
		return nil, err
	}
	ny := nh * nw * cy
	cc := len(c.Channels)
	fields := make([][]float32, cc)
	for ch := range fields {
		fields[ch] = make([]float32, g.T*g.H*g.W)
	}
	yhat := make([]float32, referenceChunk*ny)
	for w0 := 0; w0 < n; w0 += referenceChunk {
		k := min(referenceChunk, n-w0)
		for i := range referenceChunk {
			src := w0 + min(i, k-1)
			for j := range ny {
				e := src*ny + j
				yhat[i*ny+j] = float32(float64(ys[e]) + mean[e])
			}
		}
		out, err := dec.Exec(tensors.FromFlatDataAndDimensions(yhat, referenceChunk, nh, nw, cy))
		if err != nil {
			return nil, err
		}
		c.scatter(fields, g, tensors.MustCopyFlatData[float32](out[0]), w0, k)
		out[0].FinalizeAll()
	}
	return fields, nil
}

// referenceHyperSynthesis is the former EntropyModel.HyperSynthesis, one position after another.
func (m *EntropyModel) referenceHyperSynthesis(z []int, n, mh, mw, nh, nw int) (mean, scale []float64) {
	hd, cy, cz := m.hd, m.cy, m.cz
	mean = make([]float64, n*nh*nw*cy)
	scale = make([]float64, n*nh*nw*cy)
	zin := make([]float64, cz)
	h1 := make([]float64, hd)
	h2 := make([]float64, 4*hd)
	out := make([]float64, 2*cy)
	sub := make([]float64, hd)
	for b := range n {
		for i := range mh {
			for j := range mw {
				base := ((b*mh+i)*mw + j) * cz
				for c := range cz {
					zin[c] = float64(z[base+c])
				}
				m.hsIn.referenceApply(zin, h1)
				for k := range h1 {
					h1[k] = geluGo(h1[k])
				}
				m.hsSplit.referenceApply(h1, h2)
				for di := range 2 {
					for dj := range 2 {
						ti, tj := 2*i+di, 2*j+dj
						if ti >= nh || tj >= nw {
							continue
						}
						off := (di*2 + dj) * hd
						for k := range hd {
							sub[k] = geluGo(h2[off+k])
						}
						m.hsOut.referenceApply(sub, out)
						o := ((b*nh+ti)*nw + tj) * cy
						for c := range cy {
							mean[o+c] = out[c]
							scale[o+c] = math.Max(softplus(out[cy+c]), scaleBound)
						}
					}
				}
			}
		}
	}
	return mean, scale
}

// referenceYTablesOf is the former yTablesOf: each element's bank table from its scale.
func (m *EntropyModel) referenceYTablesOf(scale []float64) []*entropy.Table {
	out := make([]*entropy.Table, len(scale))
	for i, s := range scale {
		out[i] = m.bank[m.bankIndex(s)]
	}
	return out
}

// geluGo is the former GELU of h_s, element by element: what geluSlice must reproduce.
func geluGo(x float64) float64 { return x * 0.5 * (1 + detmath.Erf(x/math.Sqrt2)) }

// referenceApply is the former denseGo.apply, one row at a time.
func (d *denseGo) referenceApply(x []float64, out []float64) {
	copy(out, d.b)
	for i, xi := range x {
		if xi == 0 {
			continue
		}
		row := d.w[i*d.out : (i+1)*d.out]
		for j, wij := range row {
			out[j] += mul(xi, wij)
		}
	}
}

// TestDenseMatchesReference: denseGo.apply (zeros skipped, rows added by the AVX2 kernel where
// the CPU has it, else eight at a time in Go) and addRowsGo alone give the same bits as
// referenceApply, for 0 to 19 inputs with some zero (every remainder of eight rows) and output
// widths that meet each part of the kernel (blocks of 32 and of 4, a Go tail of 1 to 3).
func TestDenseMatchesReference(t *testing.T) {
	t.Logf("AVX2 kernel in use: %v", useAVX2)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, outs := range []int{1, 3, 4, 7, 32, 37, 64, 71, 256} {
		for in := range 20 {
			d := denseGo{in: in, out: outs, w: make([]float64, in*outs), b: make([]float64, outs)}
			for i := range d.w {
				d.w[i] = rng.NormFloat64()
			}
			for i := range d.b {
				d.b[i] = rng.NormFloat64()
			}
			x := make([]float64, in)
			for i := range x {
				if rng.IntN(4) > 0 {
					x[i] = rng.NormFloat64() * 3
				}
			}
			got, want := make([]float64, d.out), make([]float64, d.out)
			var rows denseRows
			d.apply(x, got, &rows)
			d.referenceApply(x, want)
			goOnly := slices.Clone(d.b)
			addRowsGo(goOnly, d.w, rows.offs, rows.xs)
			for j := range got {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) || math.Float64bits(goOnly[j]) != math.Float64bits(want[j]) {
					t.Fatalf("%d inputs, %d outputs: output %d is %v (Go loop %v), reference %v", in, outs, j, got[j], goOnly[j], want[j])
				}
			}
		}
	}
}

// TestBankLookupMatchesExact: the table lookup of a raw scale's bank index gives the index of
// the exact composition (softplus, bound, logarithm, rounding) over the whole range, at and
// around every step, and at the special values.
func TestBankLookupMatchesExact(t *testing.T) {
	m := &EntropyModel{bankLog: make([]float64, bankSize)}
	lo, hi := detmath.Log(scaleBound), detmath.Log(bankTop)
	for k := range bankSize {
		m.bankLog[k] = lo + (hi-lo)*float64(k)/float64(bankSize-1)
	}
	l := m.newBankLookup()
	if l.exactOnly {
		t.Fatal("the lookup fell back to the exact composition")
	}
	exact := func(raw float64) int { return m.bankIndex(scaleOf(raw)) }
	rng := rand.New(rand.NewPCG(7, 8))
	var raws []float64
	for range 1_000_000 {
		raws = append(raws, (rng.Float64()-0.2)*20, rng.NormFloat64()*3, math.Exp(rng.Float64()*6))
	}
	for k := 1; k < bankSize; k++ {
		for d := int64(-300); d <= 300; d++ {
			raws = append(raws, fromOrderedKey(orderedKey(l.step[k])+d))
		}
	}
	raws = append(raws, 0, math.Copysign(0, -1), -3, math.Nextafter(-3, 0), 30, 31, 1e300, -1e300, math.Inf(1), math.Inf(-1), math.NaN())
	for _, raw := range raws {
		if got, want := l.index(raw), exact(raw); got != want {
			t.Fatalf("raw %v: index %d, exact %d", raw, got, want)
		}
	}
}
