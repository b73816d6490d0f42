package attention

import (
	"math"
	"slices"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// cachedAttention is Done with a Cache: the queries q [B, T, H, h] at positions [T] attend over
// the cache's head-major keys and values [B, H_kv, S, h] after this call's k and v are written
// into it, with the query heads grouped by the key/value head they read (q [B, T, H_kv, G, h]):
//
//	scores = q·Kᵀ/√h [B, H_kv, G, T, S],  K [B, H_kv, S, h]
//	out = softmax_s(scores, masked)·V,  V [B, H_kv, S, h]
//
// Both products take the cache's batch axes (B, H_kv) first and contract its last axis (K) or
// the one after them (V), as the backends' batched matrix products read it: only q and the
// output (T tokens) are transposed, never anything of the cache's size.
func cachedAttention(q, k, v, positions *graph.Node, cache Cache) *graph.Node {
	dims := q.Shape().Dimensions
	batch, t, heads, hd := dims[0], dims[1], dims[2], dims[3]
	kvHeads := k.Shape().Dimensions[2]
	group := heads / kvHeads
	keys, values, keyPositions := cache.Update(k, v)
	s := keys.Shape().Dimensions[2]
	want := []int{batch, kvHeads, s, hd}
	if !slices.Equal(keys.Shape().Dimensions, want) || !slices.Equal(values.Shape().Dimensions, want) {
		exceptions.Panicf("attention: a Cache must return head-major keys and values [B, H_kv, S, h] = %v, got %s and %s", want, keys.Shape(), values.Shape())
	}
	qg := graph.Reshape(q, batch, t, kvHeads, group, hd)
	scores := graph.MulScalar(graph.Einsum("btkgd,bksd->bkgts", qg, keys), 1/math.Sqrt(float64(hd)))
	scores = mask(scores, positions, keyPositions)
	out := graph.Einsum("bkgts,bksd->btkgd", graph.Softmax(scores, -1), values)
	return graph.Reshape(out, batch, t, heads, hd)
}
