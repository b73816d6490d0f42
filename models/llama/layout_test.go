package llama_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/attention"
	"github.com/qzoo/qzoo/layers/norm"
	"github.com/qzoo/qzoo/layers/position"
	"github.com/qzoo/qzoo/models/llama"
)

// passThrough is an attention.Cache that stores nothing (its keys and values are the call's,
// head-major), so that causal attention through it takes the cached path with GoMLX's derived
// gradients (see layers/attention's tests).
type passThrough struct{ positions *graph.Node }

func (c passThrough) Update(k, v *graph.Node) (keys, values, positions *graph.Node) {
	return graph.TransposeAllAxes(k, 0, 2, 1, 3), graph.TransposeAllAxes(v, 0, 2, 1, 3), c.positions
}

// oldForward is llama.Forward (no cache, tied classifier) as it was before the training step's
// layouts (2026-12-07): linear layers as the Einsum x·Wᵀ with the gradients GoMLX derives,
// RMSNorm dividing by the root mean square, attention with the gradients GoMLX derives (through
// layers/attention's cached path) and the classifier as an Einsum. The tests hold the model to it.
func oldForward(scope *model.Scope, tokens *graph.Node) *graph.Node {
	cfg := llama.ConfigOf(scope)
	g := tokens.Graph()
	batch, seq := tokens.Shape().Dimensions[0], tokens.Shape().Dimensions[1]
	hd := cfg.HeadDim()
	emb := scope.In(llama.VarEmbedding).VariableWithShape(llama.VarWeight, shapes.Make(dtypes.Float32, cfg.VocabSize, cfg.Dim)).NodeValue(g)
	x := graph.Gather(emb, graph.InsertAxes(tokens, -1))
	positions := graph.Iota(g, shapes.Make(dtypes.Int32, seq), 0)
	cos, sin := position.RoPEAngles(positions, hd)
	rms := func(s *model.Scope, x *graph.Node) *graph.Node {
		gain := s.VariableWithShape(norm.VarRMSGain, shapes.Make(dtypes.Float32, cfg.Dim)).NodeValue(g)
		ms := graph.ReduceAndKeep(graph.Square(x), graph.ReduceMean, -1)
		return graph.Mul(graph.Div(x, graph.Sqrt(graph.AddScalar(ms, 1e-5))), graph.Reshape(gain, 1, 1, cfg.Dim))
	}
	lin := func(s *model.Scope, x *graph.Node, out int) *graph.Node {
		in := x.Shape().Dimensions[2]
		w := llama.EffectiveWeight(s, g, out, in)
		return graph.Reshape(graph.Einsum("ni,oi->no", graph.Reshape(x, batch*seq, in), w), batch, seq, out)
	}
	for i := range cfg.Layers {
		b := llama.BlockScope(scope, i)
		n := rms(b.In(llama.VarAttnNorm), x)
		q := graph.Reshape(lin(b.In("wq"), n, cfg.Dim), batch, seq, cfg.Heads, hd)
		k := graph.Reshape(lin(b.In("wk"), n, cfg.KVDim()), batch, seq, cfg.KVHeads, hd)
		v := graph.Reshape(lin(b.In("wv"), n, cfg.KVDim()), batch, seq, cfg.KVHeads, hd)
		q, k = position.RoPE(q, cos, sin), position.RoPE(k, cos, sin)
		a := attention.New(q, k, v).Causal(positions).Cache(passThrough{positions}).Done()
		x = graph.Add(x, lin(b.In("wo"), graph.Reshape(a, batch, seq, cfg.Dim), cfg.Dim))
		m := rms(b.In(llama.VarFFNNorm), x)
		h1 := lin(b.In("w1"), m, cfg.HiddenDim)
		h := graph.Mul(graph.Mul(h1, graph.Sigmoid(h1)), lin(b.In("w3"), m, cfg.HiddenDim))
		x = graph.Add(x, lin(b.In("w2"), h, cfg.Dim))
	}
	return graph.Einsum("btd,vd->btv", rms(scope.In(llama.VarNormFinal), x), emb)
}

// TestForwardMatchesOldForward: on stories260K, the training forward's logits and the gradients
// of every weight equal those of oldForward to float32 rounding, on every backend.
func TestForwardMatchesOldForward(t *testing.T) {
	w, tok := stories260K(t)
	toks := testTokens(t, w, tok)
	const batch, seq = 2, 2*attention.QueryBlock + 5 // three blocks of queries, the last short
	ids := make([]int32, batch*seq)
	for i := range ids {
		ids[i] = int32(toks[i%len(toks)])
	}
	r := make([]float32, batch*seq*w.VocabSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		run := func(forward func(*model.Scope, *graph.Node) *graph.Node) [][]float32 {
			store := storeOf(t, w)
			exec, err := model.NewExec(backend, store, func(scope *model.Scope, tokens, r *graph.Node) []*graph.Node {
				logits := forward(scope, tokens)
				loss := graph.ReduceAllSum(graph.Mul(logits, r))
				return append([]*graph.Node{logits}, scope.BuildTrainableVariablesGradientsGraph(loss)...)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(ids, batch, seq), tensors.FromFlatDataAndDimensions(r, batch, seq, w.VocabSize))
			if err != nil {
				t.Fatal(err)
			}
			flat := make([][]float32, len(out))
			for i, o := range out {
				flat[i] = tensors.MustCopyFlatData[float32](o)
			}
			return flat
		}
		got := run(func(scope *model.Scope, tokens *graph.Node) *graph.Node {
			return llama.Forward(scope, tokens, nil, nil)
		})
		want := run(oldForward)
		if len(got) != len(want) || len(want) < 2+9*llama.Stories260K.Layers {
			t.Fatalf("%d outputs, the old forward %d (logits and one gradient per weight)", len(got), len(want))
		}
		var worst float64
		for i := range want {
			var scale, diff float64
			for j := range want[i] {
				scale = max(scale, math.Abs(float64(want[i][j])))
				diff = max(diff, math.Abs(float64(got[i][j]-want[i][j])))
			}
			worst = max(worst, diff/scale)
			if diff > 1e-5*scale {
				t.Errorf("output %d (0: logits, then gradients): largest difference %.3g, %.3g of its largest magnitude %.3g", i, diff, diff/scale, scale)
			}
		}
		t.Logf("largest difference from the old forward, relative to each output's largest magnitude: %.3g", worst)
	})
}
