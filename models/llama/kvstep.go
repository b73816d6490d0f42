package llama

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/kvcache"
	"github.com/qzoo/qzoo/quant/scheme"
)

// KVStepper runs the model one position at a time over a batch of sequences with a quantized
// key/value cache (package kvcache) held on the host: each step's graph computes the new
// token's keys (in the form the quantizer stores: before RoPE with kv_pre_rope, else after)
// and values, attending to the dequantized cache of the earlier positions and to its own keys
// and values in full precision (they are in hand); then the host quantizes and stores them
// and writes the dequantized form of every token whose stored keys or values changed into
// the float32 working copy the next step attends to.
//
// The working copy [Layers, B, KVHeads, S, HeadDim] (S a length bucket that holds the positions
// so far, as [Generator]'s cache) is what a fused dequantizing attention kernel would avoid: on a
// generic backend it is the price of attending over packed codes. The storage the cache holds
// is the packed form ([KVStepper.Bytes]).
type KVStepper struct {
	Config     Config
	Quantizer  *kvcache.Quantizer
	exec       *model.Exec
	batch, cap int
	span       int // tokens before the new one a step may rewrite: Quantizer.MaxSpan, at most capacity−1
	seqs       []*kvcache.Sequence
	work       *deviceCache // working copy on the backend, per layer [B, KVHeads, S, HeadDim]
	mk, mv     []float32    // its host mirror, [L, B, cap, W]
	pos        int
	// changedK and changedV are the earliest positions the last step's stores changed on each
	// side (pos−1 when they changed only the token they stored).
	changedK, changedV int
	// upd holds the host tensors of the updates, [side][rows] → [L, B, rows, KVHeads, HeadDim],
	// refilled at every step rather than allocated (strict KIVI's keys send their whole open
	// group each step; a profile under load put ~8% of its step in filling fresh tensors).
	upd [2]map[int]*tensors.Tensor
}

// NewKVStepper compiles the step for batch sequences of at most capacity tokens over the
// store's weights, with cache quantizer q. Call Finalize when done.
//
// Each step sends the backend the dequantized form of the positions before the new one that
// the previous step's stores changed, keys and values apart: on each side the last one when
// that is all they changed, else the last U = q.MaxSpan() (a KIVI flush; strict KIVI's open
// key group); it writes them into its working copy together with the new token's keys and
// values, in one update per layer and side of min(U, capacity−1)+1 or 2 rows (two compiled
// shapes per side). The working copy stays on the backend between steps (donated to each) and
// grows through the length buckets as positions are fed (one compiled step per bucket and
// shape), from the first bucket that holds the larger update.
func NewKVStepper(backend compute.Backend, store *model.Store, q *kvcache.Quantizer, batch, capacity int) (*KVStepper, error) {
	c := ConfigOfStore(store)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("llama: store's llama_* hyperparameters: %w", err)
	}
	if q.Shape.Layers != c.Layers || q.Shape.KVHeads != c.KVHeads || q.Shape.HeadDim != c.HeadDim() {
		return nil, fmt.Errorf("llama: cache quantizer for %d layers × %d heads × %d, model %d × %d × %d",
			q.Shape.Layers, q.Shape.KVHeads, q.Shape.HeadDim, c.Layers, c.KVHeads, c.HeadDim())
	}
	if batch < 1 || capacity < 1 || capacity > c.SeqLen {
		return nil, fmt.Errorf("llama: KV stepper batch %d, capacity %d (context %d)", batch, capacity, c.SeqLen)
	}
	span := min(q.MaxSpan(), capacity-1)
	layers := c.Layers
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		tokens, start, updK, updV := inputs[0], inputs[1], inputs[2], inputs[3]
		cache := newCache(inputs[4:4+layers], inputs[4+layers:], start)
		stored := make([][3]*graph.Node, layers)
		// The host sends the n rows before the new token (Step), at start−n, except at the
		// first positions, where it sends all the span+1 rows the update writes, from slot 0.
		slot := func(upd *graph.Node) (at *graph.Node, insert bool) {
			if n := upd.Shape().Dimensions[2]; n != span+1 {
				return graph.Sub(start, graph.Scalar(start.Graph(), dtypes.Int32, n)), false
			}
			return graph.Scalar(start.Graph(), dtypes.Int32, 0), true
		}
		atK, insertK := slot(updK)
		atV, insertV := slot(updV)
		for l := range layers {
			cache.Layers[l].RewriteKeys = Rewrite{Rows: layerOf(updK, l), At: atK, Insert: insertK}
			cache.Layers[l].RewriteValues = Rewrite{Rows: layerOf(updV, l), At: atV, Insert: insertV}
			cache.Layers[l].Probe = func(kPre, k, v *graph.Node) { stored[l] = [3]*graph.Node{kPre, k, v} }
		}
		logits := graph.Squeeze(Forward(scope, tokens, start, cache), 1) // [B, V]
		// The keys of every layer in the form the quantizer stores (before or after RoPE), then
		// the values, [B, 1, H_kv, h] each, as one output [B, 2L, H_kv, h]: one node and one
		// read-back, where a backend such as ONNX Runtime pays for every one.
		keyForm := 1
		if q.Config.PreRoPE {
			keyForm = 0
		}
		var kv []*graph.Node
		for _, i := range []int{keyForm, 2} {
			for l := range layers {
				kv = append(kv, stored[l][i])
			}
		}
		out := []*graph.Node{logits, graph.Concatenate(kv, 1)}
		for l := range layers {
			out = append(out, cache.Layers[l].Keys)
		}
		for l := range layers {
			out = append(out, cache.Layers[l].Values)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	s := &KVStepper{Config: c, Quantizer: q, exec: exec, batch: batch, cap: capacity, span: span,
		upd: [2]map[int]*tensors.Tensor{{}, {}}}
	buckets := lengthBuckets(capacity)
	for len(buckets) > 1 && buckets[0] < s.rows(true) {
		buckets = buckets[1:]
	}
	if s.work, err = newDeviceCache(backend, layers, batch, c.KVHeads, c.HeadDim(), buckets); err != nil {
		exec.Finalize()
		return nil, err
	}
	s.Reset()
	return s, nil
}

// Reset empties the caches.
func (s *KVStepper) Reset() {
	c := s.Config
	s.work.reset()
	n := c.Layers * s.batch * s.cap * c.KVDim()
	if len(s.mk) != n {
		s.mk, s.mv = make([]float32, n), make([]float32, n)
	} else {
		clear(s.mk)
		clear(s.mv)
	}
	s.seqs = make([]*kvcache.Sequence, s.batch)
	for b := range s.seqs {
		s.seqs[b] = s.Quantizer.NewSequence()
	}
	s.pos, s.changedK, s.changedV = 0, 0, 0
}

// rows is the number of slots a step's update writes: the new token and the U positions before
// it after a store that changed older tokens (full), else the new token and the one before.
func (s *KVStepper) rows(full bool) int {
	if full {
		return s.span + 1
	}
	return min(2, s.span+1)
}

// Pos is the number of positions fed so far.
func (s *KVStepper) Pos() int { return s.pos }

// Bytes is the storage the caches of all sequences hold (packed codes and their metadata).
func (s *KVStepper) Bytes() int {
	n := 0
	for _, q := range s.seqs {
		n += q.Bytes()
	}
	return n
}

// Step feeds one token per sequence (tokens [B]) at the next position and returns the logits
// [B·VocabSize] of that position.
func (s *KVStepper) Step(tokens []int32) ([]float32, error) {
	if len(tokens) != s.batch {
		return nil, fmt.Errorf("llama: Step got %d tokens for a batch of %d", len(tokens), s.batch)
	}
	if s.pos >= s.cap {
		return nil, fmt.Errorf("%w: %d tokens fed, the cache holds %d (context %s=%d)", ErrContextFull, s.pos, s.cap, ParamSeqLen, s.Config.SeqLen)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= s.Config.VocabSize {
			return nil, fmt.Errorf("llama: token %d out of the vocabulary [0, %d)", t, s.Config.VocabSize)
		}
	}
	c := s.Config
	w := c.KVDim()
	// On each side, the update writes r slots at … at+r−1 ending with this position: the host
	// sends the r−1 before it, as its mirror holds them now, and the graph appends the new
	// token. Where that would start before slot 0 (or send nothing), it sends the span+1 slots
	// from 0 (an insert: the graph puts the new token in its row; the rows after it are zeros,
	// masked and written later).
	update := func(side int, mirror []float32, changed int) (*tensors.Tensor, error) {
		r := s.rows(changed < s.pos-1)
		at, n := s.pos+1-r, r-1
		if at < 0 || n == 0 {
			at, n = 0, s.span+1
		}
		t := s.upd[side][n]
		if t == nil {
			t = tensors.FromShape(shapeOf([]int{c.Layers, s.batch, n, c.KVHeads, c.HeadDim()}))
			s.upd[side][n] = t
		}
		err := tensors.MutableFlatData(t, func(upd []float32) {
			for lb := range c.Layers * s.batch {
				row := upd[lb*n*w : (lb+1)*n*w]
				m := copy(row, mirror[(lb*s.cap+at)*w:(lb*s.cap+min(s.pos, at+n))*w])
				clear(row[m:]) // an insert's rows after the new token: zeros, masked
			}
		})
		if err != nil {
			return nil, fmt.Errorf("llama: KV step's update at position %d: %w", s.pos, err)
		}
		return t, nil
	}
	tk, err := update(0, s.mk, s.changedK)
	if err != nil {
		return nil, err
	}
	tv, err := update(1, s.mv, s.changedV)
	if err != nil {
		return nil, err
	}
	in := tensors.FromFlatDataAndDimensions(tokens, s.batch, 1)
	if err := s.work.fit(s.pos); err != nil {
		return nil, err
	}
	work, err := s.work.donate()
	if err != nil {
		return nil, err
	}
	out, err := s.exec.Exec(append([]any{in, int32(s.pos), tk, tv}, work...)...)
	in.FinalizeAll()
	if err != nil {
		// The donated working copy is gone: start again from empty caches.
		pos := s.pos
		s.Reset()
		return nil, fmt.Errorf("llama: KV step at position %d (the caches are emptied): %w", pos, err)
	}
	logits := tensors.MustCopyFlatData[float32](out[0])
	kv := tensors.MustCopyFlatData[float32](out[1]) // [B, 2L, W]: keys in the form the quantizer stores, values
	out[0].FinalizeAll()
	out[1].FinalizeAll()
	// The step's working copy replaces the old one.
	s.work.set(out[2:])
	s.changedK, s.changedV = s.pos, s.pos
	for l := range c.Layers {
		for b, seq := range s.seqs {
			at := (b*2*c.Layers + l) * w
			k, v := kv[at:at+w], kv[at+c.Layers*w:at+(c.Layers+1)*w]
			kf, vf := seq.AppendSides(l, k, k, v)
			from := min(kf, vf)
			if u := s.Quantizer.MaxSpan(); from < s.pos+1-u {
				return nil, fmt.Errorf("llama: %s cache changed token %d storing token %d, beyond its span of %d", s.Quantizer.Config.Method, from, s.pos, u)
			}
			s.changedK, s.changedV = min(s.changedK, kf), min(s.changedV, vf)
			// Only what changed is read again (strict KIVI: its key group, one value).
			for j := kf; j <= s.pos; j++ {
				off := ((l*s.batch+b)*s.cap + j) * w
				seq.ReadKeys(l, j, s.mk[off:off+w])
			}
			for j := vf; j <= s.pos; j++ {
				off := ((l*s.batch+b)*s.cap + j) * w
				seq.ReadValues(l, j, s.mv[off:off+w])
			}
		}
	}
	s.pos++
	return logits, nil
}

// Decoder returns the stepper of batch 1 as a [Decoder] for [Generate].
func (s *KVStepper) Decoder() Decoder { return kvDecoder{s} }

type kvDecoder struct{ *KVStepper }

func (d kvDecoder) Step(token int) ([]float32, error) {
	if d.batch != 1 {
		return nil, fmt.Errorf("llama: a Decoder needs a stepper of batch 1, not %d", d.batch)
	}
	if token < 0 || token >= d.Config.VocabSize {
		return nil, fmt.Errorf("llama: token %d out of the vocabulary [0, %d)", token, d.Config.VocabSize)
	}
	return d.KVStepper.Step([]int32{int32(token)})
}

// Capacity is the positions each sequence's cache holds.
func (s *KVStepper) Capacity() int { return s.cap }

// Finalize frees the compiled step, the working copy and the update tensors.
func (s *KVStepper) Finalize() {
	s.exec.Finalize()
	s.work.finalize()
	for _, m := range s.upd {
		for _, t := range m {
			t.FinalizeAll()
		}
	}
}

// KVResult is the outcome of [KVPerplexity].
type KVResult struct {
	NLL    float64 // summed negative log-likelihood, nats
	Tokens int     // target tokens scored
	// Storage is the caches' storage summed over the windows at their full length (Values:
	// the cached values, tokens · layers · 2 · W); the shared constants are not in it.
	Storage      scheme.Storage
	MaxAbsLogits float32 // largest |logit| seen (a NaN/Inf check)
}

// KVPerplexity scores targets [n, T] after inputs [n, T] (row-major, int32) teacher-forced
// through stepper (batch B divides nothing: the last batch is padded with copies of its
// first row, not scored), every window starting at position 0.
func KVPerplexity(s *KVStepper, inputs, targets []int32, n, t int) (KVResult, error) {
	var r KVResult
	if t > s.cap {
		return r, fmt.Errorf("llama: windows of %d tokens exceed the stepper's capacity %d", t, s.cap)
	}
	v := s.Config.VocabSize
	col := make([]int32, s.batch)
	for lo := 0; lo < n; lo += s.batch {
		rows := min(s.batch, n-lo)
		s.Reset()
		for p := range t {
			for b := range s.batch {
				col[b] = inputs[(lo+min(b, rows-1))*t+p]
			}
			logits, err := s.Step(col)
			if err != nil {
				return r, err
			}
			for b := range rows {
				row := logits[b*v : (b+1)*v]
				mx := float32(math.Inf(-1))
				for _, x := range row {
					mx = max(mx, x)
					r.MaxAbsLogits = max(r.MaxAbsLogits, float32(math.Abs(float64(x))))
				}
				var sum float64
				for _, x := range row {
					sum += math.Exp(float64(x - mx))
				}
				r.NLL += math.Log(sum) + float64(mx) - float64(row[targets[(lo+b)*t+p]])
			}
		}
		for b := range rows {
			r.Storage = r.Storage.Add(s.seqs[b].Storage())
		}
		r.Tokens += rows * t
	}
	return r, nil
}

// SampleWindows draws n sequences of length tokens from the store's model, each from llama2c.BOS at
// temperature 1 (seeded), running on past the model's end of story (llama2c.BOS) as llama2.c's
// training stream does: the model's own text, on which a cache quantizer can be calibrated
// without data (as LLM-QAT's data-free calibration does for weights).
func SampleWindows(backend compute.Backend, store *model.Store, n, length int, seed uint64) ([][]int32, error) {
	c := ConfigOfStore(store)
	q, err := kvcache.New(kvcache.Config{Method: kvcache.MethodFP32}, KVShape(c))
	if err != nil {
		return nil, err
	}
	s, err := NewKVStepper(backend, store, q, n, length)
	if err != nil {
		return nil, err
	}
	defer s.Finalize()
	sampler, err := NewSampler(1, 0, seed)
	if err != nil {
		return nil, err
	}
	out := make([][]int32, n)
	next := make([]int32, n)
	for b := range next {
		next[b] = llama2c.BOS
	}
	v := c.VocabSize
	for range length {
		for b := range out {
			out[b] = append(out[b], next[b])
		}
		logits, err := s.Step(next)
		if err != nil {
			return nil, err
		}
		for b := range next {
			next[b] = int32(sampler.Sample(logits[b*v : (b+1)*v]))
		}
	}
	return out, nil
}

// WorkingCopy returns what the next step attends to for layer: the backend's keys and
// values [B, Pos, KVHeads·HeadDim] of the positions so far (the last one in full precision,
// as computed; the earlier ones as their stored form dequantized), for tests and inspection.
func (s *KVStepper) WorkingCopy(layer int) (keys, values []float32) {
	c := s.Config
	slots := s.work.length()
	get := func(t *tensors.Tensor) []float32 {
		flat := tensors.MustCopyFlatData[float32](t) // [B, KVHeads, slots, HeadDim]
		out := make([]float32, s.batch*s.pos*c.KVDim())
		for b := range s.batch {
			for p := range s.pos {
				for h := range c.KVHeads {
					from := ((b*c.KVHeads+h)*slots + p) * c.HeadDim()
					copy(out[((b*s.pos+p)*c.KVHeads+h)*c.HeadDim():], flat[from:from+c.HeadDim()])
				}
			}
		}
		return out
	}
	return get(s.work.keys[layer]), get(s.work.values[layer])
}

// Sequence returns the quantized cache of sequence b.
func (s *KVStepper) Sequence(b int) *kvcache.Sequence { return s.seqs[b] }
