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
// vaeformer numbers came from. This package computes exactly the operations they computed.
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
// positions of this call's tokens, those of the queries and, without a cache, of the keys (S = T).
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
