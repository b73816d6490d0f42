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

// Generator runs the model one token at a time with a key/value cache (batch 1), as
// llama2.c's run.c does: each step feeds the next token at the next position and returns that
// position's logits.
type Generator struct {
	Config       Config
	exec         *model.Exec
	keys, values *tensors.Tensor // [Layers, 1, SeqLen, KVHeads, HeadDim]
	pos          int
}

// NewGenerator compiles the cached decoding step over the store's weights (architecture from
// its llama_* hyperparameters) and runs it once. Call Finalize when done.
func NewGenerator(backend compute.Backend, store *model.Store) (*Generator, error) {
	c := ConfigOfStore(store)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("llama: store's llama_* hyperparameters: %w", err)
	}
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, inputs []*graph.Node) []*graph.Node {
		tokens, start, keys, values := inputs[0], inputs[1], inputs[2], inputs[3]
		cache := NewCache(keys, values, start)
		logits := Forward(scope, tokens, start, cache)
		k, v := cache.Stacked()
		last := tokens.Shape().Dimensions[1] - 1
		logits = graph.Squeeze(graph.Slice(logits, graph.AxisRange(), graph.AxisRange(last, last+1)), 1)
		return []*graph.Node{logits, k, v}
	})
	if err != nil {
		return nil, err
	}
	g := &Generator{Config: c, exec: exec}
	g.Reset()
	// Compile now, so that the first Step (and any timing of the decoding loop) does not pay
	// for it: one step on llama2c.BOS, then an empty cache again.
	if _, err := g.Step(llama2c.BOS); err != nil {
		exec.Finalize()
		return nil, err
	}
	g.Reset()
	return g, nil
}

// Reset empties the cache.
func (g *Generator) Reset() {
	c := g.Config
	dims := []int{c.Layers, 1, c.SeqLen, c.KVHeads, c.HeadDim()}
	if g.keys != nil {
		g.keys.FinalizeAll()
		g.values.FinalizeAll()
	}
	// Zeros, not garbage: a masked slot's weight is exactly 0, and 0 · NaN would not be.
	g.keys = tensors.FromShape(shapeOf(dims))
	g.values = tensors.FromShape(shapeOf(dims))
	g.pos = 0
}

// Pos is the number of tokens fed so far.
func (g *Generator) Pos() int { return g.pos }

// ErrContextFull is wrapped by the error Step returns when the cache is full (it states the
// tokens fed and the capacity): errors.Is(err, ErrContextFull).
var ErrContextFull = errors.New("llama: context full")

// Step feeds token at the next position and returns that position's logits [VocabSize].
func (g *Generator) Step(token int) ([]float32, error) {
	if g.pos >= g.Config.SeqLen {
		return nil, fmt.Errorf("%w: %d tokens fed, the context %s=%d holds no more", ErrContextFull, g.pos, ParamSeqLen, g.Config.SeqLen)
	}
	if token < 0 || token >= g.Config.VocabSize {
		return nil, fmt.Errorf("llama: token %d out of the vocabulary [0, %d)", token, g.Config.VocabSize)
	}
	out, err := g.exec.Exec([][]int32{{int32(token)}}, int32(g.pos), g.keys, g.values)
	if err != nil {
		return nil, err
	}
	// The step's outputs replace the cache; the old buffers are freed now rather than left to
	// the garbage collector, which does not see the backend's memory behind them.
	g.keys.FinalizeAll()
	g.values.FinalizeAll()
	g.keys, g.values = out[1], out[2]
	g.pos++
	logits := tensors.MustCopyFlatData[float32](out[0])
	out[0].FinalizeAll()
	return logits, nil
}

// Finalize frees the compiled step and the cache.
func (g *Generator) Finalize() {
	g.exec.Finalize()
	g.keys.FinalizeAll()
	g.values.FinalizeAll()
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
		if next == llama2c.BOS {
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
	gen, err := NewGenerator(backend, m.Store)
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
