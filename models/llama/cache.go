package llama

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Cache is the key/value cache of generation: per layer, the keys (after RoPE) and values of
// every position so far, head-major [B, H_kv, S, h] (as attention.Cache returns them) with S the slots the call's graph holds (a length
// bucket of deviceCache, at most llama_seq_len). Forward writes the positions it computes (from
// its start) and reads all S slots, masked to those at or before each query.
type Cache struct {
	Start  *graph.Node // scalar int32: position of the first token of this call
	Layers []LayerCache
}

// LayerCache holds one layer's keys and values [B, H_kv, S, h]. With Keys nil it stores
// nothing (attention is over the call's tokens, as without a cache) and only Probe is called.
type LayerCache struct {
	Keys, Values *graph.Node
	// Probe, if set, sees the block's keys before RoPE (kPre) and after (k), and its values,
	// [B, T, H_kv, h] each, for the T tokens of the call: the quantized caches of package
	// kvcache read them from here, and calibration takes their gradients.
	Probe func(kPre, k, v *graph.Node)
	// RewriteKeys and RewriteValues [B, N, H_kv, h], if set, are written in the same update as
	// the call's own key and value (T = 1): a host cache's rewrite of the positions its last
	// store changed (see KVStepper). With Insert, the N rows go to slots RewriteAt …
	// RewriteAt+N−1 and the call's key and value replace the row of its position; without, the
	// call's key and value follow the N rows, at slots RewriteAt … RewriteAt+N (RewriteAt a
	// scalar int32).
	RewriteKeys, RewriteValues *graph.Node
	RewriteAt                  *graph.Node
	Insert                     bool
	start                      *graph.Node
}

// NewProbe returns a cache that stores nothing and calls probe(layer, kPre, k, v) for every
// layer (see LayerCache.Probe).
func NewProbe(layers int, probe func(layer int, kPre, k, v *graph.Node)) *Cache {
	c := &Cache{Layers: make([]LayerCache, layers)}
	for i := range layers {
		c.Layers[i].Probe = func(kPre, k, v *graph.Node) { probe(i, kPre, k, v) }
	}
	return c
}

// Update writes k and v [B, T, H_kv, h] at positions start…start+T−1 and returns the whole
// cache's keys and values [B, H_kv, S, h] with their positions [S]: the attention.Cache that Block passes to the
// shared attention layer.
func (c *LayerCache) Update(k, v *graph.Node) (keys, values, positions *graph.Node) {
	g := k.Graph()
	zero := graph.Scalar(g, dtypes.Int32, 0)
	slot := c.start
	if c.RewriteKeys != nil {
		if t := k.Shape().Dimensions[1]; t != 1 {
			exceptions.Panicf("llama: a cache rewrite goes with one token per call, not %d", t)
		}
		if c.Insert {
			// The call's token into its row of the rewrite (a few rows: cheaper than a select).
			row := []*graph.Node{zero, graph.Sub(c.start, c.RewriteAt), zero, zero}
			k = graph.DynamicUpdateSlice(c.RewriteKeys, k, row)
			v = graph.DynamicUpdateSlice(c.RewriteValues, v, row)
		} else {
			k = graph.Concatenate([]*graph.Node{c.RewriteKeys, k}, 1)
			v = graph.Concatenate([]*graph.Node{c.RewriteValues, v}, 1)
		}
		slot = c.RewriteAt
	}
	at := []*graph.Node{zero, zero, slot, zero}
	headMajor := func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, 0, 2, 1, 3) } // T or W tokens only
	c.Keys = graph.DynamicUpdateSlice(c.Keys, headMajor(k), at)
	c.Values = graph.DynamicUpdateSlice(c.Values, headMajor(v), at)
	return c.Keys, c.Values, graph.Iota(g, shapes.Make(dtypes.Int32, c.Keys.Shape().Dimensions[2]), 0)
}

// newCache wraps per-layer keys and values [B, H_kv, S, h] (graph inputs) for a call that
// starts at position start.
func newCache(keys, values []*graph.Node, start *graph.Node) *Cache {
	c := &Cache{Start: start, Layers: make([]LayerCache, len(keys))}
	for i := range keys {
		c.Layers[i] = LayerCache{Keys: keys[i], Values: values[i], start: start}
	}
	return c
}

// layerOf is layer i of a stacked [L, …] node.
func layerOf(x *graph.Node, i int) *graph.Node {
	return graph.Squeeze(graph.Slice(x, graph.AxisRange(i, i+1)), 0)
}
