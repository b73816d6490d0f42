package vaeformer

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/entropy"
	"github.com/qzoo/qzoo/internal/detmath"
)

// The Go side of the entropy model: what encoder and decoder must compute identically (the
// hyper-synthesis, the factorised density's tables, the choice of table per latent element) is
// evaluated here in float64 from the stored weights, never on the backend, with package
// detmath's functions and every product rounded (mul) so that no compiler fuses it into an
// FMA: a bitstream decodes the same on every backend, GOARCH and CPU.

// Table settings of the codec.
const (
	// precisionBits is the rANS tables' precision P.
	precisionBits = 16
	// bankSize is the number of Gaussian tables, at scales geometric between scaleBound and
	// bankTop; an element is coded under the table whose scale is nearest its own in log scale.
	bankSize = 128
	bankTop  = 256.0
	// densityRange bounds the symbols a hyper-latent channel's table covers without escapes.
	densityRange = 512
	// tailMass is the probability left outside a table's range (folded into its end symbols).
	tailMass = 1e-9
)

// denseGo is a linear layer x·W + b with W [in, out] row-major, in float64.
type denseGo struct {
	in, out int
	w, b    []float64
}

// denseRows is scratch for denseGo.apply: the offsets in W of the input's nonzero rows and
// their input values.
type denseRows struct {
	offs []int
	xs   []float64
}

// apply sets out [d.out] to x·W + b for x [d.in]. Each output is summed as b_j + x_0·w_0j +
// x_1·w_1j + … over the nonzero inputs in row order, a rounded product and a rounded sum per
// term (rows of a zero input add nothing and are skipped), however the loop is vectorised.
func (d *denseGo) apply(x, out []float64, rows *denseRows) {
	out = out[:d.out]
	copy(out, d.b)
	rows.offs, rows.xs = rows.offs[:0], rows.xs[:0]
	for i, xi := range x[:d.in] {
		if xi != 0 {
			rows.offs = append(rows.offs, i*d.out)
			rows.xs = append(rows.xs, xi)
		}
	}
	addRows(out, d.w, rows.offs, rows.xs)
}

// addRowsGo adds xs[t]·w[offs[t] : offs[t]+len(out)] to out for t = 0, 1, … in order, eight
// rows per pass over the outputs, each output still summing its terms in row order.
func addRowsGo(out, w []float64, offs []int, xs []float64) {
	n := len(out)
	t := 0
	for ; t+8 <= len(offs); t += 8 {
		x0, x1, x2, x3 := xs[t], xs[t+1], xs[t+2], xs[t+3]
		x4, x5, x6, x7 := xs[t+4], xs[t+5], xs[t+6], xs[t+7]
		r0, r1 := w[offs[t]:][:n], w[offs[t+1]:][:n]
		r2, r3 := w[offs[t+2]:][:n], w[offs[t+3]:][:n]
		r4, r5 := w[offs[t+4]:][:n], w[offs[t+5]:][:n]
		r6, r7 := w[offs[t+6]:][:n], w[offs[t+7]:][:n]
		for j := range out {
			out[j] = out[j] + mul(x0, r0[j]) + mul(x1, r1[j]) + mul(x2, r2[j]) + mul(x3, r3[j]) +
				mul(x4, r4[j]) + mul(x5, r5[j]) + mul(x6, r6[j]) + mul(x7, r7[j])
		}
	}
	for ; t < len(offs); t++ {
		xi, row := xs[t], w[offs[t]:][:n]
		for j := range out {
			out[j] += mul(xi, row[j])
		}
	}
}

// densityLayer is one layer of a channel's factorised density: H [out, in] (softplus applied),
// b [out], tanh(a) [out] (nil on the last layer).
type densityLayer struct {
	in, out int
	h, b, a []float64
}

// EntropyModel is the decoder-side half of the hyperprior, in float64: h_s, the factorised
// density of each hyper-latent channel and its table, and the bank of Gaussian tables.
type EntropyModel struct {
	cy, cz, hd           int
	hsIn, hsSplit, hsOut denseGo
	density              [][]densityLayer // [c_z][layer]
	zTables              []*entropy.Table // [c_z]
	bank                 []*entropy.Table
	bankLog              []float64 // log scale of each bank table
	lookup               *bankLookup
}

// loadFloat64 reads the variable at path as float64 values and checks its dims.
func loadFloat64(store *model.Store, path string, dims ...int) ([]float64, error) {
	v := store.GetVariable(path)
	if v == nil {
		return nil, fmt.Errorf("vaeformer: checkpoint has no variable %s", path)
	}
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("vaeformer: variable %s: %w", path, err)
	}
	got := t.Shape().Dimensions
	if len(got) != len(dims) {
		return nil, fmt.Errorf("vaeformer: variable %s has shape %v, want %v", path, got, dims)
	}
	for i := range dims {
		if got[i] != dims[i] {
			return nil, fmt.Errorf("vaeformer: variable %s has shape %v, want %v", path, got, dims)
		}
	}
	f, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, fmt.Errorf("vaeformer: variable %s: %w", path, err)
	}
	out := make([]float64, len(f))
	for i, x := range f {
		out[i] = float64(x)
	}
	return out, nil
}

func loadDense(store *model.Store, path string, in, out int) (denseGo, error) {
	w, err := loadFloat64(store, path+"/"+varWeights, in, out)
	if err != nil {
		return denseGo{}, err
	}
	b, err := loadFloat64(store, path+"/"+varBiases, out)
	if err != nil {
		return denseGo{}, err
	}
	return denseGo{in: in, out: out, w: w, b: b}, nil
}

// NewEntropyModel reads the hyperprior's decoder side from a trained store with the model's
// hyperparameters and builds its tables.
func NewEntropyModel(store *model.Store, params map[string]any) (*EntropyModel, error) {
	m := &EntropyModel{cy: params[ParamLatent].(int), cz: params[ParamHyperLatent].(int), hd: params[ParamHyperDim].(int)}
	var err error
	hs := "/" + scopeHyperSyn
	if m.hsIn, err = loadDense(store, hs+"/in", m.cz, m.hd); err != nil {
		return nil, err
	}
	if m.hsSplit, err = loadDense(store, hs+"/split", m.hd, 4*m.hd); err != nil {
		return nil, err
	}
	if m.hsOut, err = loadDense(store, hs+"/out", m.hd, 2*m.cy); err != nil {
		return nil, err
	}
	k := len(densityFilters) - 1
	layers := make([]rawDensityLayer, k)
	for i := range k {
		in, out := densityFilters[i], densityFilters[i+1]
		p := fmt.Sprintf("/%s/", scopeDensity)
		if layers[i].h, err = loadFloat64(store, p+fmt.Sprintf("matrix_%d", i), m.cz, out, in); err != nil {
			return nil, err
		}
		if layers[i].b, err = loadFloat64(store, p+fmt.Sprintf("bias_%d", i), m.cz, out, 1); err != nil {
			return nil, err
		}
		if i < k-1 {
			if layers[i].a, err = loadFloat64(store, p+fmt.Sprintf("factor_%d", i), m.cz, out, 1); err != nil {
				return nil, err
			}
		}
	}
	if err := m.init(layers); err != nil {
		return nil, err
	}
	return m, nil
}

// rawDensityLayer is one layer of the factorised density as stored, for all c_z channels:
// H [c_z, out, in] before softplus, b [c_z, out, 1], a [c_z, out, 1] before tanh (nil on the
// last layer).
type rawDensityLayer struct{ h, b, a []float64 }

// init sets m's density from the stored layers (m.cz set) and builds its tables.
func (m *EntropyModel) init(layers []rawDensityLayer) error {
	k := len(densityFilters) - 1
	m.density = make([][]densityLayer, m.cz)
	for c := range m.cz {
		for i := range k {
			in, out := densityFilters[i], densityFilters[i+1]
			l := densityLayer{in: in, out: out, h: make([]float64, out*in), b: make([]float64, out)}
			for j := range out * in {
				l.h[j] = softplus(layers[i].h[c*out*in+j])
			}
			copy(l.b, layers[i].b[c*out:(c+1)*out])
			if layers[i].a != nil {
				l.a = make([]float64, out)
				for j := range out {
					l.a[j] = detmath.Tanh(layers[i].a[c*out+j])
				}
			}
			m.density[c] = append(m.density[c], l)
		}
	}
	return m.buildTables()
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return detmath.Log1p(detmath.Exp(x))
}

func sigmoid(x float64) float64 { return 1 / (1 + detmath.Exp(-x)) }

// logits is f_K ∘ … ∘ f_1(x) of channel c's factorised density.
func (m *EntropyModel) logits(c int, x float64) float64 {
	cur := []float64{x}
	for _, l := range m.density[c] {
		next := make([]float64, l.out)
		for o := range l.out {
			s := l.b[o]
			for i := range l.in {
				s += mul(l.h[o*l.in+i], cur[i])
			}
			if l.a != nil {
				s += mul(l.a[o], detmath.Tanh(s))
			}
			next[o] = s
		}
		cur = next
	}
	return cur[0]
}

// zLikelihood is p(ẑ = v) of channel c, as the graph's FactorisedLikelihood computes it.
func (m *EntropyModel) zLikelihood(c, v int) float64 {
	lower, upper := m.logits(c, float64(v)-0.5), m.logits(c, float64(v)+0.5)
	sign := -1.0
	if lower+upper <= 0 {
		sign = 1
	}
	return math.Max(math.Abs(sigmoid(sign*upper)-sigmoid(sign*lower)), likelihoodMin)
}

// zBitsMemo remembers −log₂ p(ẑ = v) per channel and value: a payload's hyper-latents take
// few distinct values, each costing two runs of the density network.
type zBitsMemo struct {
	m    *EntropyModel
	bits map[[2]int]float64
}

func (m *EntropyModel) newZBits() zBitsMemo { return zBitsMemo{m, map[[2]int]float64{}} }

// of is −log₂ p(ẑ = v) of channel c.
func (z zBitsMemo) of(c, v int) float64 {
	b, ok := z.bits[[2]int{c, v}]
	if !ok {
		b = -math.Log2(z.m.zLikelihood(c, v))
		z.bits[[2]int{c, v}] = b
	}
	return b
}

// buildTables builds each hyper-latent channel's table over the range holding all but
// tailMass of its density, and the bank of Gaussian tables.
func (m *EntropyModel) buildTables() error {
	m.zTables = make([]*entropy.Table, m.cz)
	for c := range m.cz {
		cdf := func(x float64) float64 { return sigmoid(m.logits(c, x)) }
		lo, hi := -densityRange, densityRange
		for lo < 0 && cdf(float64(lo)+0.5) < tailMass {
			lo++
		}
		for hi > lo && cdf(float64(hi)-0.5) > 1-tailMass {
			hi--
		}
		edges := make([]float64, hi-lo+2)
		for i := range edges {
			edges[i] = cdf(float64(lo+i) - 0.5)
			if i > 0 && edges[i] < edges[i-1] { // rounding in a flat tail
				edges[i] = edges[i-1]
			}
		}
		t, err := entropy.CDFTable(edges, lo, precisionBits)
		if err != nil {
			return fmt.Errorf("vaeformer: hyper-latent channel %d: %w", c, err)
		}
		m.zTables[c] = t
	}
	m.bank = make([]*entropy.Table, bankSize)
	m.bankLog = make([]float64, bankSize)
	lo, hi := detmath.Log(scaleBound), detmath.Log(bankTop)
	for k := range bankSize {
		ls := lo + (hi-lo)*float64(k)/float64(bankSize-1)
		s := detmath.Exp(ls)
		r := int(math.Ceil(7*s)) + 1
		t, err := entropy.GaussianTable(0, s, -r, r, precisionBits)
		if err != nil {
			return fmt.Errorf("vaeformer: Gaussian table %d (scale %g): %w", k, s, err)
		}
		m.bank[k], m.bankLog[k] = t, ls
	}
	m.lookup = m.newBankLookup()
	return nil
}

// bankIndex is the bank table nearest scale s in log scale.
func (m *EntropyModel) bankIndex(s float64) int {
	ls := detmath.Log(s)
	lo, hi := m.bankLog[0], m.bankLog[len(m.bankLog)-1]
	k := int(math.Round((ls - lo) / (hi - lo) * float64(len(m.bankLog)-1)))
	return min(max(k, 0), len(m.bankLog)-1)
}

// zTablesOf returns the table of each of n hyper-latent elements laid out [..., c_z] (the
// element's channel is its index mod c_z): the one layout encoder and decoder share.
func (m *EntropyModel) zTablesOf(n int) []*entropy.Table {
	out := make([]*entropy.Table, n)
	for i := range out {
		out[i] = m.zTables[i%m.cz]
	}
	return out
}

// yTablesOf returns the bank table of each latent element from h_s's raw output for its scale
// (the residual ŷ − m is coded, so every table is zero-mean): the one choice encoder and
// decoder share.
func (m *EntropyModel) yTablesOf(raw []float64) []*entropy.Table {
	out := make([]*entropy.Table, len(raw))
	for i, r := range raw {
		out[i] = m.bank[m.lookup.index(r)]
	}
	return out
}

// gaussianBits is −log₂ p(ŷ | m, s) of the package doc for residual r = ŷ − m.
func gaussianBits(r, s float64) float64 {
	v := math.Abs(r)
	upper := 0.5 * math.Erfc(-(0.5-v)/(s*math.Sqrt2))
	lower := 0.5 * math.Erfc(-(-0.5-v)/(s*math.Sqrt2))
	return -math.Log2(math.Max(upper-lower, likelihoodMin))
}

// HyperSynthesis computes h_s in float64 for the hyper-latents ẑ [n, m_h, m_w, c_z] (integers)
// of windows with a token grid nh × nw: the conditional means and scales, each
// [n, nh, nw, c_y]. It matches the graph's [HyperSynthesis] up to float rounding. The
// positions are spread over GOMAXPROCS goroutines; each value is computed by the same
// operations in the same order wherever it runs, so the result does not depend on them.
func (m *EntropyModel) HyperSynthesis(z []int, n, mh, mw, nh, nw int) (mean, scale []float64) {
	mean, scale = m.hyperSynthesis(z, n, mh, mw, nh, nw)
	for i, raw := range scale {
		scale[i] = scaleOf(raw)
	}
	return mean, scale
}

// hyperSynthesis is HyperSynthesis with the scales left raw (before scaleOf): the codec needs
// only their tables (bankLookup), and the scales themselves only for the estimated bits.
func (m *EntropyModel) hyperSynthesis(z []int, n, mh, mw, nh, nw int) (mean, raw []float64) {
	cy, cz := m.cy, m.cz
	mean = make([]float64, n*nh*nw*cy)
	raw = make([]float64, n*nh*nw*cy)
	parallelFor(n*mh*mw, func(lo, hi int) {
		s := m.newSynthScratch()
		tokens := make([]float64, 4*2*cy)
		for p := lo; p < hi; p++ {
			b, i, j := p/(mh*mw), p/mw%mh, p%mw
			// Sub-position q = (di, dj) is token (2i+di, 2j+dj), if inside the grid.
			var inside [4]bool
			for q := range inside {
				inside[q] = 2*i+q/2 < nh && 2*j+q%2 < nw
			}
			m.synthesise(z[p*cz:][:cz], inside, tokens, s)
			for q, ok := range inside {
				if !ok {
					continue
				}
				src := tokens[q*2*cy:][:2*cy]
				o := ((b*nh+2*i+q/2)*nw + 2*j + q%2) * cy
				copy(mean[o:o+cy], src[:cy])
				copy(raw[o:o+cy], src[cy:])
			}
		}
	})
	return mean, raw
}

// synthScratch holds one goroutine's h_s activations.
type synthScratch struct {
	zin, h1, h2 []float64
	rows        denseRows
	gelu        geluScratch
}

func (m *EntropyModel) newSynthScratch() *synthScratch {
	in := max(m.cz, m.hd)
	return &synthScratch{zin: make([]float64, m.cz), h1: make([]float64, m.hd), h2: make([]float64, 4*m.hd),
		rows: denseRows{offs: make([]int, 0, in), xs: make([]float64, 0, in)}}
}

// synthesise runs h_s on one hyper-latent vector zv [c_z] and writes those of its 2×2 tokens
// that are inside the grid (inside[2·di+dj]) to tokens [di, dj][mean c_y, raw scale c_y].
func (m *EntropyModel) synthesise(zv []int, inside [4]bool, tokens []float64, s *synthScratch) {
	hd, cy := m.hd, m.cy
	for c, v := range zv {
		s.zin[c] = float64(v)
	}
	m.hsIn.apply(s.zin, s.h1, &s.rows)
	s.gelu.geluSlice(s.h1)
	m.hsSplit.apply(s.h1, s.h2, &s.rows)
	// h2 is [2, 2, hd]: sub-position (di, dj) → token (2i+di, 2j+dj).
	if inside == [4]bool{true, true, true, true} {
		s.gelu.geluSlice(s.h2)
	} else {
		for q, ok := range inside {
			if ok {
				s.gelu.geluSlice(s.h2[q*hd:][:hd])
			}
		}
	}
	for q, ok := range inside {
		if !ok {
			continue
		}
		m.hsOut.apply(s.h2[q*hd:][:hd], tokens[q*2*cy:][:2*cy], &s.rows)
	}
}

// parallelFor splits 0..n−1 into contiguous ranges and runs fn on them in up to GOMAXPROCS
// goroutines, returning when all are done.
func parallelFor(n int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { fn(lo, hi) })
	}
	wg.Wait()
}
