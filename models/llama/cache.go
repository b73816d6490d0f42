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
	// RewriteKeys and RewriteValues, if their Rows are set, are written in the same update as
	// the call's own key and value (T = 1): a host cache's rewrite of the positions its last
	// store changed on each side (see KVStepper).
	RewriteKeys, RewriteValues Rewrite
	start                      *graph.Node
}

// Rewrite is rows [B, N, H_kv, h] of one side of a layer's cache that a call writes together
// with its own token's row. With Insert, the N rows go to slots At … At+N−1 and the call's row
// replaces the row of its position; without, the call's row follows the N rows, at slots
// At … At+N (At a scalar int32).
type Rewrite struct {
	Rows, At *graph.Node
	Insert   bool
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
	c.Keys = c.write(c.Keys, k, c.RewriteKeys)
	c.Values = c.write(c.Values, v, c.RewriteValues)
	return c.Keys, c.Values, graph.Iota(g, shapes.Make(dtypes.Int32, c.Keys.Shape().Dimensions[2]), 0)
}

// write puts x [B, T, H_kv, h] into cache [B, H_kv, S, h] at the call's start, with the
// rewrite's rows when it has them.
func (c *LayerCache) write(cache, x *graph.Node, rw Rewrite) *graph.Node {
	zero := graph.Scalar(x.Graph(), dtypes.Int32, 0)
	slot := c.start
	if rw.Rows != nil {
		if t := x.Shape().Dimensions[1]; t != 1 {
			exceptions.Panicf("llama: a cache rewrite goes with one token per call, not %d", t)
		}
		if rw.Insert {
			// The call's token into its row of the rewrite (a few rows: cheaper than a select).
			x = graph.DynamicUpdateSlice(rw.Rows, x, []*graph.Node{zero, graph.Sub(c.start, rw.At), zero, zero})
		} else {
			x = graph.Concatenate([]*graph.Node{rw.Rows, x}, 1)
		}
		slot = rw.At
	}
	headMajor := graph.TransposeAllAxes(x, 0, 2, 1, 3) // T or N tokens only
	return graph.DynamicUpdateSlice(cache, headMajor, []*graph.Node{zero, zero, slot, zero})
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
