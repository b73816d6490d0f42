package llama

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/llama2c"
	"github.com/qzoo/qzoo/framework"
)

// Generator runs the model one token at a time over a batch of sequences with a key/value
// cache, as llama2.c's run.c does: each step feeds every sequence its next token at the next
// position and returns that position's logits. The cache stays on the backend between steps
// (deviceCache): one execution per token, attending over the smallest length bucket that holds
// the positions so far, not the whole context.
type Generator struct {
	Config Config
	batch  int
	exec   *model.Exec
	cache  *deviceCache
	pos    int
}

// NewGenerator compiles the cached decoding step for batch sequences over the store's weights
// (architecture from its llama_* hyperparameters), one graph per length bucket, and runs each
// once. Call Finalize when done.
func NewGenerator(backend compute.Backend, store *model.Store, batch int) (*Generator, error) {
	return newGenerator(backend, store, batch, nil)
}

// newGenerator is NewGenerator with the cache's length buckets (nil: lengthBuckets of the
// context).
func newGenerator(backend compute.Backend, store *model.Store, batch int, buckets []int) (*Generator, error) {
	c := ConfigOfStore(store)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("llama: store's llama_* hyperparameters: %w", err)
	}
	if batch < 1 {
		return nil, fmt.Errorf("llama: generator batch %d must be ≥ 1", batch)
	}
	if buckets == nil {
		buckets = lengthBuckets(c.SeqLen)
	}
	layers := c.Layers
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		tokens, start := inputs[0], inputs[1]
		cache := newCache(inputs[2:2+layers], inputs[2+layers:], start)
		logits := graph.Squeeze(Forward(scope, tokens, start, cache), 1) // [B, V]
		out := []*graph.Node{logits}
		for _, l := range cache.Layers {
			out = append(out, l.Keys)
		}
		for _, l := range cache.Layers {
			out = append(out, l.Values)
		}
		return out
	})
	if err != nil {
		return nil, err
	}
	g := &Generator{Config: c, batch: batch, exec: exec}
	if g.cache, err = newDeviceCache(backend, layers, batch, c.KVHeads, c.HeadDim(), buckets); err != nil {
		exec.Finalize()
		return nil, err
	}
	// Compile now, so that no Step (and no timing of the decoding loop) pays for it: one step
	// on llama2c.BOS in every bucket, then an empty cache again.
	bos := make([]int32, batch)
	for i := range bos {
		bos[i] = llama2c.BOS
	}
	for i := range buckets {
		if i > 0 {
			err = g.cache.fit(buckets[i-1])
		}
		if err == nil {
			_, err = g.run(bos)
		}
		if err != nil {
			g.Finalize()
			return nil, err
		}
	}
	g.Reset()
	return g, nil
}

// Reset empties the cache.
func (g *Generator) Reset() {
	g.cache.reset()
	g.pos = 0
}

// Pos is the number of tokens fed so far.
func (g *Generator) Pos() int { return g.pos }

// Batch is the number of sequences fed together.
func (g *Generator) Batch() int { return g.batch }

// ErrContextFull is wrapped by the error Step returns when the cache is full (it states the
// tokens fed and the capacity): errors.Is(err, ErrContextFull).
var ErrContextFull = errors.New("llama: context full")

// Step feeds token at the next position of a generator of batch 1 and returns that position's
// logits [VocabSize].
func (g *Generator) Step(token int) ([]float32, error) {
	if g.batch != 1 {
		return nil, fmt.Errorf("llama: Step feeds one sequence; this generator's batch is %d (use StepBatch)", g.batch)
	}
	if token < 0 || token >= g.Config.VocabSize {
		return nil, fmt.Errorf("llama: token %d out of the vocabulary [0, %d)", token, g.Config.VocabSize)
	}
	return g.StepBatch([]int32{int32(token)})
}

// StepBatch feeds one token per sequence (tokens [B]) at the next position and returns that
// position's logits [B·VocabSize].
func (g *Generator) StepBatch(tokens []int32) ([]float32, error) {
	if len(tokens) != g.batch {
		return nil, fmt.Errorf("llama: StepBatch got %d tokens for a batch of %d", len(tokens), g.batch)
	}
	if g.pos >= g.Config.SeqLen {
		return nil, fmt.Errorf("%w: %d tokens fed, the context %s=%d holds no more", ErrContextFull, g.pos, ParamSeqLen, g.Config.SeqLen)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= g.Config.VocabSize {
			return nil, fmt.Errorf("llama: token %d out of the vocabulary [0, %d)", t, g.Config.VocabSize)
		}
	}
	if err := g.cache.fit(g.pos); err != nil {
		return nil, err
	}
	logits, err := g.run(tokens)
	if err != nil {
		return nil, err
	}
	g.pos++
	return logits, nil
}

// run executes one step at g.pos (which the cache holds) and keeps its cache.
func (g *Generator) run(tokens []int32) ([]float32, error) {
	in := tensors.FromFlatDataAndDimensions(tokens, g.batch, 1)
	defer in.FinalizeAll()
	cache, err := g.cache.donate()
	if err != nil {
		return nil, err
	}
	out, err := g.exec.Exec(append([]any{in, int32(g.pos)}, cache...)...)
	if err != nil {
		// The donated cache is gone: start again from an empty one.
		pos := g.pos
		g.Reset()
		return nil, fmt.Errorf("llama: generation step at position %d (the cache is emptied): %w", pos, err)
	}
	g.cache.set(out[1:])
	logits := tensors.MustCopyFlatData[float32](out[0])
	out[0].FinalizeAll()
	return logits, nil
}

// Finalize frees the compiled step and the cache.
func (g *Generator) Finalize() {
	g.exec.Finalize()
	g.cache.finalize()
}

// Sampler picks the next token from logits: greedy at Temperature 0, else from
// softmax(logits/Temperature), restricted to the smallest set of most likely tokens whose
// probability reaches TopP when 0 < TopP < 1 (nucleus sampling, Holtzman et al. 2020).
// Seeded: the same seed gives the same tokens.
type Sampler struct {
	Temperature float64
	TopP        float64
	rng         *rand.Rand
}

// NewSampler returns a sampler; it refuses a negative or non-finite temperature and a top_p
// outside [0, 1].
func NewSampler(temperature, topP float64, seed uint64) (*Sampler, error) {
	if !(temperature >= 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("llama: temperature %v must be finite and ≥ 0", temperature)
	}
	if !(topP >= 0 && topP <= 1) {
		return nil, fmt.Errorf("llama: top_p %v must be in [0, 1]", topP)
	}
	return &Sampler{Temperature: temperature, TopP: topP, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}, nil
}

// Sample returns the next token.
func (s *Sampler) Sample(logits []float32) int {
	if s.Temperature == 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	probs := make([]float64, len(logits))
	mx := float64(slices.Max(logits))
	var sum float64
	for i, v := range logits {
		probs[i] = math.Exp((float64(v) - mx) / s.Temperature)
		sum += probs[i]
	}
	order := make([]int, len(probs))
	for i := range order {
		order[i] = i
	}
	if s.TopP > 0 && s.TopP < 1 {
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case probs[a] > probs[b]:
				return -1
			case probs[a] < probs[b]:
				return 1
			}
			return 0
		})
		var cum float64
		for k, i := range order {
			cum += probs[i] / sum
			if cum >= s.TopP {
				order = order[:k+1]
				break
			}
		}
		sum = 0
		for _, i := range order {
			sum += probs[i]
		}
	}
	r := s.rng.Float64() * sum
	for _, i := range order {
		r -= probs[i]
		if r < 0 {
			return i
		}
	}
	return order[len(order)-1]
}

// Generate feeds prompt (which should start with llama2c.BOS) and then samples until maxTokens new
// tokens, llama2c.BOS (llama2.c's end of a story) or the end of the context; it returns the new
// tokens. onToken, if set, sees each new token as it comes.
func (g *Generator) Generate(prompt []int, maxTokens int, s *Sampler, onToken func(int)) ([]int, error) {
	return Generate(g, prompt, maxTokens, s, onToken)
}

// Decoder is a model fed one token at a time with a cache: [Generator] (the fp32 cache on
// the backend) or [KVStepper.Decoder] (a quantized cache).
type Decoder interface {
	// Step feeds token at the next position and returns that position's logits [VocabSize].
	Step(token int) ([]float32, error)
	// Pos is the number of tokens fed; Capacity the most the cache holds.
	Pos() int
	Capacity() int
	// Reset empties the cache.
	Reset()
}

// Capacity is the context length: the positions the cache holds.
func (g *Generator) Capacity() int { return g.Config.SeqLen }

// Generate feeds prompt (which should start with llama2c.BOS) to d and then samples until maxTokens
// new tokens, llama2c.BOS (llama2.c's end of a story) or the end of the context; it returns the new
// tokens. onToken, if set, sees each new token as it comes.
func Generate(g Decoder, prompt []int, maxTokens int, s *Sampler, onToken func(int)) ([]int, error) {
	return GenerateUntil(g, prompt, maxTokens, s, []int{llama2c.BOS}, onToken)
}

// GenerateUntil is [Generate] stopping at any of the stop tokens (not returned) instead of
// llama2c.BOS: e.g. a Hugging Face model's eos_token_id ([Opened.StopTokens]).
func GenerateUntil(g Decoder, prompt []int, maxTokens int, s *Sampler, stop []int, onToken func(int)) ([]int, error) {
	if len(prompt) == 0 {
		return nil, errors.New("llama: empty prompt (start it with llama2c.BOS)")
	}
	var logits []float32
	var err error
	for _, t := range prompt {
		if logits, err = g.Step(t); err != nil {
			return nil, err
		}
	}
	var out []int
	for len(out) < maxTokens {
		next := s.Sample(logits)
		if slices.Contains(stop, next) {
			break
		}
		out = append(out, next)
		if onToken != nil {
			onToken(next)
		}
		if len(out) == maxTokens || g.Pos() >= g.Capacity() {
			break
		}
		if logits, err = g.Step(next); err != nil {
			return out, err
		}
	}
	return out, nil
}

// SampleStories draws n stories from stories260K (found with framework.LocateData in
// dataDir) at temperature 1 without top-p, seeded: each from llama2c.BOS to the model's end of story
// (llama2c.BOS) or the end of the context, one per line. Quantizing the model and measuring its
// perplexity on these stories shows what quantization costs it on text it was trained for.
func SampleStories(dataDir string, backend compute.Backend, n int, seed uint64) (string, error) {
	m, tok, err := openStories260K(dataDir)
	if err != nil {
		return "", err
	}
	if backend == nil {
		if backend, _, err = framework.NewBackend(); err != nil {
			return "", err
		}
	}
	gen, err := NewGenerator(backend, m.Store, 1)
	if err != nil {
		return "", err
	}
	defer gen.Finalize()
	sampler, err := NewSampler(1, 0, seed)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for range n {
		gen.Reset()
		out, err := gen.Generate([]int{llama2c.BOS}, gen.Config.SeqLen, sampler, nil)
		if err != nil {
			return "", err
		}
		text, err := tok.Decode(append([]int{llama2c.BOS}, out...))
		if err != nil {
			return "", err
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	return b.String(), nil
}
