package attention_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/attention"
)

func random(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

// reference is the package doc's formula as loops: q [B, T, H, h], k and v [B, S, Hkv, h]; with
// queryPos non-nil, key s is visible from query t when keyPos[s] ≤ queryPos[t].
func reference(q, k, v []float64, b, t, s, heads, kvHeads, hd int, queryPos, keyPos []int) []float64 {
	out := make([]float64, b*t*heads*hd)
	group := heads / kvHeads
	for bi := range b {
		for ti := range t {
			for h := range heads {
				kh := h / group
				scores := make([]float64, s)
				top := math.Inf(-1)
				for si := range s {
					scores[si] = math.Inf(-1)
					if queryPos != nil && keyPos[si] > queryPos[ti] {
						continue
					}
					var dot float64
					for d := range hd {
						dot += q[((bi*t+ti)*heads+h)*hd+d] * k[((bi*s+si)*kvHeads+kh)*hd+d]
					}
					scores[si] = dot / math.Sqrt(float64(hd))
					top = max(top, scores[si])
				}
				var total float64
				for si := range s {
					scores[si] = math.Exp(scores[si] - top)
					total += scores[si]
				}
				for si := range s {
					for d := range hd {
						out[((bi*t+ti)*heads+h)*hd+d] += scores[si] / total * v[((bi*s+si)*kvHeads+kh)*hd+d]
					}
				}
			}
		}
	}
	return out
}

// prefixCache is a Cache holding keys and values [B, P, H_kv, h] of earlier positions 0…P−1;
// Update appends the call's, so they sit at positions P…P+T−1, and returns them head-major.
type prefixCache struct{ keys, values *graph.Node }

func (c prefixCache) Update(k, v *graph.Node) (keys, values, positions *graph.Node) {
	keys = graph.Concatenate([]*graph.Node{c.keys, k}, 1)
	values = graph.Concatenate([]*graph.Node{c.values, v}, 1)
	s := keys.Shape().Dimensions[1]
	headMajor := func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, 0, 2, 1, 3) }
	return headMajor(keys), headMajor(values), graph.Iota(k.Graph(), shapes.Make(dtypes.Int32, s), 0)
}

type attentionCase struct {
	name           string
	heads, kvHeads int
	causal         bool
	prefix         int // cached positions before the call's T tokens
}

func (c attentionCase) String() string { return c.name }

const batch, seq, headDim = 2, 4, 3

var attentionCases = []attentionCase{
	{name: "encoder", heads: 2, kvHeads: 2},
	{name: "causal", heads: 2, kvHeads: 2, causal: true},
	{name: "grouped causal", heads: 4, kvHeads: 2, causal: true},
	{name: "grouped encoder", heads: 4, kvHeads: 1},
	{name: "grouped causal with cache", heads: 4, kvHeads: 2, causal: true, prefix: 3},
	{name: "causal with cache", heads: 2, kvHeads: 2, causal: true, prefix: 2},
}

// build returns the attention of the case for q, k, v (and the cached prefix keys and values).
func (c attentionCase) build(q, k, v, pk, pv *graph.Node) *graph.Node {
	a := attention.New(q, k, v)
	if c.causal {
		positions := graph.AddScalar(graph.Iota(q.Graph(), shapes.Make(dtypes.Int32, seq), 0), float64(c.prefix))
		a = a.Causal(positions)
	}
	if c.prefix > 0 {
		a = a.Cache(prefixCache{keys: pk, values: pv})
	}
	return a.Done()
}

func (c attentionCase) data(seed uint64) (q, k, v, pk, pv []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	kv := batch * seq * c.kvHeads * headDim
	pkv := batch * max(c.prefix, 1) * c.kvHeads * headDim
	return random(rng, batch*seq*c.heads*headDim), random(rng, kv), random(rng, kv), random(rng, pkv), random(rng, pkv)
}

func (c attentionCase) tensors(q, k, v, pk, pv []float64) []any {
	return []any{
		tensors.FromFlatDataAndDimensions(q, batch, seq, c.heads, headDim),
		tensors.FromFlatDataAndDimensions(k, batch, seq, c.kvHeads, headDim),
		tensors.FromFlatDataAndDimensions(v, batch, seq, c.kvHeads, headDim),
		tensors.FromFlatDataAndDimensions(pk, batch, max(c.prefix, 1), c.kvHeads, headDim),
		tensors.FromFlatDataAndDimensions(pv, batch, max(c.prefix, 1), c.kvHeads, headDim),
	}
}

func TestMatchesReference(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for i, c := range attentionCases {
			t.Run(c.name, func(t *testing.T) {
				q, k, v, pk, pv := c.data(uint64(i))
				out, err := graph.CallOnceN(backend, func(in []*graph.Node) []*graph.Node {
					return []*graph.Node{c.build(in[0], in[1], in[2], in[3], in[4])}
				}, c.tensors(q, k, v, pk, pv)...)
				if err != nil {
					t.Fatal(err)
				}
				if got := out[0].Shape().Dimensions; !slices.Equal(got, []int{batch, seq, c.heads, headDim}) {
					t.Fatalf("shape %v, want [%d %d %d %d]", got, batch, seq, c.heads, headDim)
				}
				s := seq
				var queryPos, keyPos []int
				keys, values := k, v
				if c.causal {
					for p := range seq {
						queryPos = append(queryPos, c.prefix+p)
					}
					for p := range c.prefix + seq {
						keyPos = append(keyPos, p)
					}
				}
				if c.prefix > 0 {
					s = c.prefix + seq
					keys, values = concatTime(pk, k, c.prefix, seq, c.kvHeads), concatTime(pv, v, c.prefix, seq, c.kvHeads)
				}
				want := reference(q, keys, values, batch, seq, s, c.heads, c.kvHeads, headDim, queryPos, keyPos)
				for j, got := range tensors.MustCopyFlatData[float64](out[0]) {
					if math.Abs(got-want[j]) > 1e-12 {
						t.Fatalf("out[%d] = %g, reference %g", j, got, want[j])
					}
				}
			})
		}
	})
}

// concatTime joins [B, P, H, h] and [B, T, H, h] along time.
func concatTime(a, b []float64, p, t, heads int) []float64 {
	row := heads * headDim
	var out []float64
	for bi := range batch {
		out = append(out, a[bi*p*row:(bi+1)*p*row]...)
		out = append(out, b[bi*t*row:(bi+1)*t*row]...)
	}
	return out
}

// TestGradients checks the gradients with respect to q, k and v against finite differences on
// every backend.
func TestGradients(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for i, c := range attentionCases {
			t.Run(c.name, func(t *testing.T) {
				q, k, v, pk, pv := c.data(uint64(10 + i))
				r := random(rand.New(rand.NewPCG(uint64(i), 9)), batch*seq*c.heads*headDim)
				in := c.tensors(q, k, v, pk, pv)
				testbackend.CheckGradient(t, backend, func(_ *model.Scope, in []*graph.Node) *graph.Node {
					y := c.build(in[0], in[1], in[2], in[3], in[4])
					return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(y.Graph(), r), y.Shape().Dimensions...)))
				}, in[0].(*tensors.Tensor), in[1].(*tensors.Tensor), in[2].(*tensors.Tensor), in[3].(*tensors.Tensor), in[4].(*tensors.Tensor))
			})
		}
	})
}

func TestPanicsNameTheProblem(t *testing.T) {
	g := graph.NewGraph(testbackend.Go(t), "panics")
	q := graph.Parameter(g, "q", shapes.Make(dtypes.Float32, 1, 2, 3, 4))
	k := graph.Parameter(g, "k", shapes.Make(dtypes.Float32, 1, 2, 2, 4))
	for _, c := range []struct {
		name  string
		build func()
		want  string
	}{
		{"kv heads not dividing heads", func() { attention.New(q, k, k).Done() }, "H_kv dividing 3"},
		{"cache without positions", func() { attention.New(q, q, q).Cache(prefixCache{}).Done() }, "Causal"},
	} {
		var msg string
		func() {
			defer func() { msg = fmt.Sprint(recover()) }()
			c.build()
		}()
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: panic %q, want one mentioning %q", c.name, msg, c.want)
		}
	}
}

// TestKeyValidMatchesEachSequenceAlone: a batch of two sequences, the second padded from 2 to
// seq keys with garbage, gives at its valid queries exactly the attention of the 2 keys alone
// (and the first, unpadded, is unchanged), for plain and grouped heads, with and without Causal.
func TestKeyValidMatchesEachSequenceAlone(t *testing.T) {
	const short = 2
	backend := testbackend.Go(t)
	for i, c := range attentionCases {
		if c.prefix > 0 {
			continue // KeyValid does not combine with a Cache
		}
		t.Run(c.name, func(t *testing.T) {
			q, k, v, _, _ := c.data(uint64(20 + i))
			valid := []bool{true, true, true, true, true, true, false, false}
			g := graph.NewGraph(backend, "key_valid")
			node := func(x []float64, heads int) *graph.Node {
				return graph.Reshape(graph.Const(g, x), batch, seq, heads, headDim)
			}
			a := attention.New(node(q, c.heads), node(k, c.kvHeads), node(v, c.kvHeads)).
				KeyValid(graph.Reshape(graph.Const(g, valid), batch, seq))
			if c.causal {
				a = a.Causal(graph.Iota(g, shapes.Make(dtypes.Int32, seq), 0))
			}
			g.Compile(a.Done())
			got := tensors.MustCopyFlatData[float64](g.Run()[0])
			var queryPos, keyPos []int
			if c.causal {
				queryPos, keyPos = []int{0, 1, 2, 3}, []int{0, 1, 2, 3}
			}
			first := reference(q, k, v, batch, seq, seq, c.heads, c.kvHeads, headDim, queryPos, keyPos)
			qn, kvn := seq*c.heads*headDim, seq*c.kvHeads*headDim
			cut := func(x []float64, per, heads int) []float64 { // the second example's first `short` positions
				return x[per : per+short*heads*headDim]
			}
			var alonePos []int
			if c.causal {
				alonePos = []int{0, 1}
			}
			second := reference(cut(q, qn, c.heads), cut(k, kvn, c.kvHeads), cut(v, kvn, c.kvHeads), 1, short, short, c.heads, c.kvHeads, headDim, alonePos, alonePos)
			want := append(first[:qn:qn], second...)
			for j, w := range want {
				if math.Abs(got[j]-w) > 1e-12 {
					t.Fatalf("output %d: %v, want %v (each sequence alone)", j, got[j], w)
				}
			}
		})
	}
}

// TestKeyValidGradients checks the gradients of a masked attention against finite differences.
func TestKeyValidGradients(t *testing.T) {
	c := attentionCases[3] // grouped encoder
	q, k, v, pk, pv := c.data(31)
	r := random(rand.New(rand.NewPCG(5, 9)), batch*seq*c.heads*headDim)
	in := c.tensors(q, k, v, pk, pv)
	valid := []bool{true, true, true, false, true, true, false, false}
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		testbackend.CheckGradient(t, backend, func(_ *model.Scope, in []*graph.Node) *graph.Node {
			g := in[0].Graph()
			y := attention.New(in[0], in[1], in[2]).KeyValid(graph.Reshape(graph.Const(g, valid), batch, seq)).Done()
			return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(g, r), y.Shape().Dimensions...)))
		}, in[0].(*tensors.Tensor), in[1].(*tensors.Tensor), in[2].(*tensors.Tensor))
	})
}
