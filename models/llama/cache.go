package llama

import (
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
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
	// Pad is a number of leading slots of Keys and Values that hold no position (never
	// attended); position p lives in slot Pad+p.
	Pad int
	// BeforeKeys and BeforeValues [B, U, H_kv, h], U ≤ Pad, if set, are written with the
	// call's own keys and values, as positions start−U … start−1: a host cache's rewrite of
	// its last U positions (see KVStepper), in the same update.
	BeforeKeys, BeforeValues *graph.Node
	start                    *graph.Node
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
	slot := graph.AddScalar(c.start, float64(c.Pad))
	if c.BeforeKeys != nil {
		u := c.BeforeKeys.Shape().Dimensions[1]
		k = graph.Concatenate([]*graph.Node{c.BeforeKeys, k}, 1)
		v = graph.Concatenate([]*graph.Node{c.BeforeValues, v}, 1)
		slot = graph.AddScalar(slot, -float64(u))
	}
	at := []*graph.Node{zero, zero, slot, zero}
	headMajor := func(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, 0, 2, 1, 3) } // T tokens only
	c.Keys = graph.DynamicUpdateSlice(c.Keys, headMajor(k), at)
	c.Values = graph.DynamicUpdateSlice(c.Values, headMajor(v), at)
	s := c.Keys.Shape().Dimensions[2]
	positions = graph.Iota(g, shapes.Make(dtypes.Int32, s), 0)
	if c.Pad > 0 {
		// Padding slots get a position no query reaches.
		pos := graph.AddScalar(positions, -float64(c.Pad))
		positions = graph.Where(graph.LessThan(pos, zero), graph.BroadcastToDims(graph.Scalar(g, dtypes.Int32, math.MaxInt32), s), pos)
	}
	return c.Keys, c.Values, positions
}

// newCache wraps per-layer keys and values [B, S, H_kv, h] (graph inputs) for a call that
// starts at position start; pad is the leading slots that hold no position (LayerCache.Pad).
func newCache(keys, values []*graph.Node, start *graph.Node, pad int) *Cache {
	c := &Cache{Start: start, Layers: make([]LayerCache, len(keys))}
	for i := range keys {
		c.Layers[i] = LayerCache{Keys: keys[i], Values: values[i], Pad: pad, start: start}
	}
	return c
}

// layerOf is layer i of a stacked [L, …] node.
func layerOf(x *graph.Node, i int) *graph.Node {
	return graph.Squeeze(graph.Slice(x, graph.AxisRange(i, i+1)), 0)
}
