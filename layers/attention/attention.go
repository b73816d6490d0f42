// Package attention is scaled dot-product attention (Vaswani et al. 2017, "Attention Is All You
// Need", eq. 1) with grouped queries (Ainslie et al. 2023, "GQA"), an optional causal mask by token
// position, an optional mask of padded keys and an optional key/value cache:
//
//	out_t = Σ_s softmax_s(q_t·k_s/√h) v_s,  over the keys s visible from t,
//
// for q [B, T, H, h] and k, v [B, S, H_kv, h], H a multiple of H_kv: query head i reads key/value
// head ⌊i·H_kv/H⌋ (heads i·g … i·g + g − 1 share one, g = H/H_kv). Projections stay with the model,
// so that each keeps its variable names and layouts.
//
// GoMLX has the same (ml/layers/attention.Core) on every backend, but masks with MaskedSoftmax and,
// where a backend has one, a fused op: other float rounding than the zoo's published llama and
// vaeformer numbers came from. This package computes exactly the operations they computed, except
// for causal attention without a cache (a model's training step), which it computes in a layout of
// its own with a written-out backward (causalSelfAttention), equal to the general path to float32
// rounding (layout_test.go).
package attention

import (
	"math"

	"github.com/gomlx/compute/dtypes"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// MaskedScore replaces the scores of invisible keys: finite, so that no gradient meets ∞ − ∞,
// and low enough that exp underflows to exactly 0 in float32.
const MaskedScore = -1e30

// Cache stores keys and values across calls (generation one token at a time).
type Cache interface {
	// Update writes this call's keys and values [B, T, H_kv, h] and returns every stored key and
	// value head-major, [B, H_kv, S, h], with their positions [S] (int32; a slot holding no
	// position gets one no query reaches). Head-major is the layout the backends' batched matrix
	// products take without moving the cache: batch axes B, H_kv first, then S and h.
	Update(k, v *graph.Node) (keys, values, positions *graph.Node)
}

// Builder configures an attention; create it with [New], set options, call Done.
type Builder struct {
	q, k, v   *graph.Node
	positions *graph.Node
	keyValid  *graph.Node
	cache     Cache
}

// New starts attention of q [B, T, H, h] over k and v [B, S, H_kv, h]. Without options every query
// sees every key (an encoder's self-attention).
func New(q, k, v *graph.Node) *Builder {
	return &Builder{q: q, k: k, v: v}
}

// Causal masks the keys whose position is after the query's: positions [T] (int32) are the
// positions of this call's tokens, those of the queries and, without a cache, of the keys (S = T);
// they increase along T (without a cache, a block of queries reads no key after its last query).
func (b *Builder) Causal(positions *graph.Node) *Builder {
	b.positions = positions
	return b
}

// KeyValid masks the keys of padded positions: valid [B, S] (bool) is true where key s of example
// b exists. A batch of sequences of different lengths padded to S then gives, at every valid query,
// exactly the output of each sequence alone. Combines with Causal; not with Cache.
func (b *Builder) KeyValid(valid *graph.Node) *Builder {
	b.keyValid = valid
	return b
}

// Cache writes this call's keys and values into c and makes the attention read every key and
// value c holds, at c's positions (Causal is required: it gives the queries' positions).
func (b *Builder) Cache(c Cache) *Builder {
	b.cache = c
	return b
}

// Done returns the attention output [B, T, H, h].
func (b *Builder) Done() *graph.Node {
	q, k, v := b.q, b.k, b.v
	if q.Rank() != 4 || k.Rank() != 4 || v.Rank() != 4 {
		exceptions.Panicf("attention.New: q %s, k %s and v %s must be [batch, time, heads, head_dim]", q.Shape(), k.Shape(), v.Shape())
	}
	dims := q.Shape().Dimensions
	batch, t, heads, hd := dims[0], dims[1], dims[2], dims[3]
	kvHeads := k.Shape().Dimensions[2]
	if heads%kvHeads != 0 || !k.Shape().Equal(v.Shape()) || k.Shape().Dimensions[3] != hd {
		exceptions.Panicf("attention.New: q %s needs k and v [B, S, H_kv, %d] with H_kv dividing %d, got k %s and v %s",
			q.Shape(), hd, heads, k.Shape(), v.Shape())
	}
	if b.cache != nil && b.positions == nil {
		exceptions.Panicf("attention.New: a Cache needs Causal(positions), the positions of this call's tokens")
	}
	if b.keyValid != nil && (b.cache != nil || b.keyValid.Rank() != 2 || b.keyValid.Shape().Dimensions[0] != batch ||
		b.keyValid.Shape().Dimensions[1] != k.Shape().Dimensions[1] || b.keyValid.DType() != dtypes.Bool) {
		exceptions.Panicf("attention.New: KeyValid needs a bool [B=%d, S=%d] mask and no Cache, got %s", batch, k.Shape().Dimensions[1], b.keyValid.Shape())
	}
	if b.positions != nil && b.cache == nil && b.keyValid == nil {
		return causalSelfAttention(q, k, v, b.positions)
	}
	keyPositions := b.positions
	if b.cache != nil {
		return cachedAttention(q, k, v, b.positions, b.cache)
	}
	scale := 1 / math.Sqrt(float64(hd))
	if heads == kvHeads {
		scores := graph.MulScalar(graph.Einsum("bqhd,bkhd->bhqk", q, k), scale)
		scores = maskKeys(mask(scores, b.positions, keyPositions), b.keyValid)
		return graph.Einsum("bhqk,bkhd->bqhd", graph.Softmax(scores, -1), v)
	}
	group := heads / kvHeads
	qg := graph.Reshape(q, batch, t, kvHeads, group, hd)
	scores := graph.MulScalar(graph.Einsum("btkgd,bskd->bkgts", qg, k), scale)
	scores = maskKeys(mask(scores, b.positions, keyPositions), b.keyValid)
	out := graph.Einsum("bkgts,bskd->btkgd", graph.Softmax(scores, -1), v)
	return graph.Reshape(out, batch, t, heads, hd)
}

// mask replaces by MaskedScore the scores [..., T, S] of keys whose position is after the query's;
// without query positions it returns scores unchanged.
func mask(scores, queryPositions, keyPositions *graph.Node) *graph.Node {
	if queryPositions == nil {
		return scores
	}
	visible := graph.LessOrEqual(graph.InsertAxes(keyPositions, 0), graph.InsertAxes(queryPositions, -1)) // [T, S]
	axes := make([]int, scores.Rank()-2)
	visible = graph.BroadcastToDims(graph.InsertAxes(visible, axes...), scores.Shape().Dimensions...)
	return graph.Where(visible, scores, graph.BroadcastToDims(graph.Scalar(scores.Graph(), scores.DType(), MaskedScore), scores.Shape().Dimensions...))
}

// maskKeys replaces by MaskedScore the scores [B, ..., T, S] of the keys that valid [B, S] marks
// as padding; without valid it returns scores unchanged.
func maskKeys(scores, valid *graph.Node) *graph.Node {
	if valid == nil {
		return scores
	}
	axes := make([]int, scores.Rank()-2)
	for i := range axes {
		axes[i] = 1
	}
	visible := graph.BroadcastToDims(graph.InsertAxes(valid, axes...), scores.Shape().Dimensions...)
	return graph.Where(visible, scores, graph.BroadcastToDims(graph.Scalar(scores.Graph(), scores.DType(), MaskedScore), scores.Shape().Dimensions...))
}

// QueryBlock is how many query positions causal attention without a cache computes at once: a
// block's queries read only the keys up to its last query, so at T = 256 the four blocks skip
// 3/8 of the scores (the invisible upper triangle's whole blocks).
const QueryBlock = 64

// causalSelfAttention is Done for causal attention over the call's own keys (a model's training
// and full-sequence forward), computed in the layout the backends' matrix kernels take without
// moving anything of the scores' size, a block of [QueryBlock] queries at a time (positions
// increase along T, so a block's queries see no key after its last query). The G = H/H_kv query
// heads that share a key/value head are stacked along time, so no key or value is copied per
// head: with q [B, H_kv, G·T_b, h] the block's queries and Kᵀ, Vᵀ [B, H_kv, h, S_b] the keys and
// values up to its last query,
//
//	S  = (q/√h)·Kᵀ,  P = softmax_s(S + M),  Oᵀ = Vᵀ·Pᵀ  [B, H_kv, h, G·T_b]
//
// with M = 0 where key s is visible from query t and MaskedScore where not. Its backward is
// written out rather than derived by GoMLX, whose derivation transposes or copies dS, dP and P
// (and takes the softmax's through its decomposed form):
//
//	dP = dOᵀᵀ·Vᵀ,  dS = P ⊙ (dP − Σ_s dP ⊙ P) = P ⊙ (dP − Σ_h dO ⊙ O),  dKᵀ = qᵀ·dS
//
// (dq and dVᵀ, derived, move only tensors of the keys' size). It rides on identities with custom
// gradients, visited by the backward pass from the output down: the one on Oᵀ captures dOᵀ, the
// one on P returns dP, the one on S + M returns dS and the one on Kᵀ returns dKᵀ; the gradients
// GoMLX derives between them reach no output, and every backend drops what no output needs.
// Masked scores have P = 0 exactly, so their dS is 0, as the general path's Where gives.
func causalSelfAttention(q, k, v, positions *graph.Node) *graph.Node {
	dims := q.Shape().Dimensions
	batch, t, heads, hd := dims[0], dims[1], dims[2], dims[3]
	s := k.Shape().Dimensions[1]
	if positions.Rank() != 1 || positions.Shape().Dimensions[0] != t || s != t {
		exceptions.Panicf("attention.New: Causal without a Cache needs positions [T=%d] and keys over the same %d positions, got positions %s and k %s",
			t, t, positions.Shape(), k.Shape())
	}
	kvHeads := k.Shape().Dimensions[2]
	group := heads / kvHeads
	scaled := graph.MulScalar(q, 1/math.Sqrt(float64(hd)))
	qs := graph.TransposeAllAxes(graph.Reshape(scaled, batch, t, kvHeads, group, hd), 0, 2, 3, 1, 4) // [B, H_kv, G, T, h]
	kt := graph.TransposeAllAxes(k, 0, 2, 3, 1)                                                      // [B, H_kv, h, S]
	vt := graph.TransposeAllAxes(v, 0, 2, 3, 1)                                                      // [B, H_kv, h, S]
	visible := graph.LessOrEqual(graph.InsertAxes(positions, 0), graph.InsertAxes(positions, -1))    // [T, S]
	offsets := graph.Where(visible, graph.BroadcastToDims(graph.ScalarZero(q.Graph(), q.DType()), t, s),
		graph.BroadcastToDims(graph.Scalar(q.Graph(), q.DType(), MaskedScore), t, s))
	all := graph.AxisRange()
	var blocks []*graph.Node
	for start := 0; start < t; start += QueryBlock {
		end := min(start+QueryBlock, t)
		qb := graph.Reshape(graph.Slice(qs, all, all, all, graph.AxisRange(start, end), all), batch, kvHeads, group*(end-start), hd)
		keys := graph.AxisRange(0, end)
		ot := causalBlock(qb, graph.Slice(kt, all, all, all, keys), graph.Slice(vt, all, all, all, keys),
			graph.Slice(offsets, graph.AxisRange(start, end), keys), group)
		blocks = append(blocks, graph.Reshape(ot, batch, kvHeads, hd, group, end-start))
	}
	out := graph.TransposeAllAxes(graph.Concatenate(blocks, 4), 0, 4, 1, 3, 2) // [B, T, H_kv, G, h]
	return graph.Reshape(out, batch, t, heads, hd)
}

// causalBlock is one block of causalSelfAttention: Oᵀ [B, H_kv, h, G·T_b] for the scaled queries
// q [B, H_kv, G·T_b, h], keys and values kt, vt [B, H_kv, h, S_b] and offsets M [T_b, S_b].
func causalBlock(q, kt, vt, offsets *graph.Node, group int) *graph.Node {
	batch, kvHeads, rows := q.Shape().Dimensions[0], q.Shape().Dimensions[1], q.Shape().Dimensions[2]
	t, s := offsets.Shape().Dimensions[0], offsets.Shape().Dimensions[1]
	batchAxes := []int{0, 1}
	// matMul contracts a's last axis with b's axis bAxis, batched over [B, H_kv].
	matMul := func(a, b *graph.Node, bAxis int) *graph.Node {
		return graph.DotGeneral(a, []int{3}, batchAxes, b, []int{bAxis}, batchAxes)
	}
	// The gradients below, set by the backward pass in this order.
	var dOut, dProbs, dScores *graph.Node
	mustHave := func(grad *graph.Node, name string) {
		if grad == nil {
			exceptions.Panicf("attention: the backward pass reached %s before the output's gradient", name)
		}
	}
	kt = graph.IdentityWithCustomGradient(kt, func(_, _ *graph.Node) *graph.Node {
		mustHave(dScores, "the keys")
		return matMul(graph.TransposeAllAxes(q, 0, 1, 3, 2), dScores, 2)
	})
	scores := matMul(q, kt, 2) // [B, H_kv, G·T_b, S_b]
	scores = graph.Add(graph.Reshape(scores, batch, kvHeads, group, t, s), graph.Reshape(offsets, 1, 1, 1, t, s))
	var p, ot *graph.Node
	scores = graph.IdentityWithCustomGradient(graph.Reshape(scores, batch, kvHeads, rows, s), func(_, _ *graph.Node) *graph.Node {
		mustHave(dProbs, "the scores")
		// Σ_s dP ⊙ P = Σ_s (dO·V_s) P_s = dO·O, a sum over h instead of over the keys.
		rowDot := graph.InsertAxes(graph.ReduceSum(graph.Mul(dOut, ot), 2), -1) // [B, H_kv, G·T_b, 1]
		dScores = graph.Mul(p, graph.Sub(dProbs, rowDot))
		return dScores
	})
	// P is used through the identity p alone, which then takes over its buffer instead of copying it.
	p = graph.IdentityWithCustomGradient(graph.Softmax(scores, -1), func(_, _ *graph.Node) *graph.Node {
		mustHave(dOut, "the probabilities")
		dProbs = matMul(graph.TransposeAllAxes(dOut, 0, 1, 3, 2), vt, 2)
		return dProbs
	})
	ot = graph.IdentityWithCustomGradient(matMul(vt, p, 3), func(_, dOt *graph.Node) *graph.Node {
		dOut = dOt
		return dOt
	})
	return ot
}
