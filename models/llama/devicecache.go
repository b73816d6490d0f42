package llama

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// minBucket is the smallest length bucket of a deviceCache: below it a step's attention is a
// negligible part of its time, and every bucket is one more compiled graph.
const minBucket = 32

// lengthBuckets are the cache lengths compiled for a capacity: the powers of two from
// minBucket below it, then the capacity itself.
func lengthBuckets(capacity int) []int {
	var b []int
	for n := minBucket; n < capacity; n *= 2 {
		b = append(b, n)
	}
	return append(b, capacity)
}

// deviceCache is a key/value cache kept on the backend between steps, one tensor per layer for
// keys and one for values, head-major [B, KVHeads, S, HeadDim] (position p in slot p), S the
// smallest of its length buckets that holds the positions fed so far. A step's graph is compiled once per bucket (model.Exec keys
// its graphs by the inputs' shapes) and attends over S slots, not the capacity; when a position
// would not fit, grow copies the cache into the next bucket's, on the backend. Steps donate
// the cache's buffers (graph.DonateTensorBuffer), so a backend that updates a donated buffer in
// place (the pure-Go one) writes the new position without copying the cache.
type deviceCache struct {
	backend      compute.Backend
	buckets      []int  // ascending; the last is the capacity
	dims         [3]int // B, KVHeads, HeadDim
	layers       int
	keys, values []*tensors.Tensor
	grow         *graph.Exec
}

// newDeviceCache returns an empty cache (the smallest bucket) of layers × [batch, kvHeads,
// S, headDim] for the given buckets (ascending, the last the capacity).
func newDeviceCache(backend compute.Backend, layers, batch, kvHeads, headDim int, buckets []int) (*deviceCache, error) {
	c := &deviceCache{backend: backend, buckets: buckets, dims: [3]int{batch, kvHeads, headDim}, layers: layers}
	var err error
	c.grow, err = graph.NewExec(backend, func(inputs []*graph.Node) []*graph.Node {
		s := inputs[0].Shape().Dimensions[2]
		next := c.bucketFor(s + 1)
		out := make([]*graph.Node, len(inputs))
		for i, x := range inputs {
			zeros := graph.Zeros(x.Graph(), shapeOf([]int{c.dims[0], c.dims[1], next - s, c.dims[2]}))
			out[i] = graph.Concatenate([]*graph.Node{x, zeros}, 2)
		}
		return out
	})
	if err != nil {
		return nil, fmt.Errorf("llama: compiling the cache's growth: %w", err)
	}
	c.reset()
	return c, nil
}

// bucketFor is the smallest bucket of at least n slots (the capacity if none).
func (c *deviceCache) bucketFor(n int) int {
	for _, b := range c.buckets {
		if b >= n {
			return b
		}
	}
	return c.buckets[len(c.buckets)-1]
}

// length is the current bucket's slots S.
func (c *deviceCache) length() int { return c.keys[0].Shape().Dimensions[2] }

// reset empties the cache to the smallest bucket.
func (c *deviceCache) reset() {
	c.free()
	dims := []int{c.dims[0], c.dims[1], c.buckets[0], c.dims[2]}
	c.keys, c.values = make([]*tensors.Tensor, c.layers), make([]*tensors.Tensor, c.layers)
	for l := range c.layers {
		// Zeros, not garbage: a masked slot's weight is exactly 0, and 0 · NaN would not be.
		c.keys[l] = tensors.FromShape(shapeOf(dims))
		c.values[l] = tensors.FromShape(shapeOf(dims))
	}
}

// fit grows the cache to the bucket that holds position pos.
func (c *deviceCache) fit(pos int) error {
	if pos < c.length() {
		return nil
	}
	args := make([]any, 0, 2*c.layers)
	for _, t := range slices.Concat(c.keys, c.values) {
		args = append(args, t)
	}
	out, err := c.grow.Exec(args...)
	if err != nil {
		return fmt.Errorf("llama: growing the cache to hold position %d: %w", pos, err)
	}
	c.free()
	c.keys, c.values = slices.Clone(out[:c.layers]), slices.Clone(out[c.layers:])
	return nil
}

// donate returns the cache's buffers as a step's arguments, keys of every layer then values,
// donated to it: the cache is empty until set gives it the step's outputs.
func (c *deviceCache) donate() ([]any, error) {
	args := make([]any, 0, 2*c.layers)
	for _, t := range slices.Concat(c.keys, c.values) {
		d, err := graph.DonateTensorBuffer(t, c.backend, 0)
		if err != nil {
			return nil, fmt.Errorf("llama: donating the cache to the step: %w", err)
		}
		args = append(args, d)
	}
	return args, nil
}

// set makes the step's outputs (keys of every layer then values) the cache, freeing what is
// left of the donated tensors.
func (c *deviceCache) set(out []*tensors.Tensor) {
	c.free()
	c.keys, c.values = slices.Clone(out[:c.layers]), slices.Clone(out[c.layers:2*c.layers])
}

// free releases the cache's tensors now rather than leaving them to the garbage collector,
// which does not see the backend's memory behind them.
func (c *deviceCache) free() {
	for _, t := range slices.Concat(c.keys, c.values) {
		t.FinalizeAll()
	}
	c.keys, c.values = nil, nil
}

// finalize frees the cache and its compiled growth.
func (c *deviceCache) finalize() {
	c.free()
	c.grow.Finalize()
}
