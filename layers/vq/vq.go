// Package vq holds the vector quantizers of the zoo behind one interface, so that a model
// can swap VQ ↔ EMA VQ ↔ SimVQ ↔ FSQ ↔ LFQ ↔ residual stacks by configuration.
//
// Every quantizer maps latents z of shape [..., D] to
//
//	Quantized: same shape as z, with a straight-through gradient to z: z + StopGradient(q − z);
//	Codes:     int32 code indices of shape [...] (one code per latent vector);
//	Loss:      a scalar auxiliary loss (commitment, codebook, entropy terms), already weighted;
//	Stats:     scalar diagnostics of the batch (e.g. "perplexity", "used_codes").
//
// Quantizers are chosen with the hyperparameter [ParamType] (see [New]) and configured by
// the other vq_* hyperparameters, each documented where it is declared.
package vq

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
)

// Output is what a [Quantizer] returns for a batch of latents.
type Output struct {
	// Quantized has the shape of the input latents; its gradient flows straight through to them.
	Quantized *graph.Node
	// Codes holds the int32 code index of each latent vector: shape is the input shape without
	// its last axis. For a residual stack whose K^Stages fits in an int32 the stages are
	// combined in mixed radix (stage 0 the lowest digit); otherwise Codes holds stage 0's codes
	// only (see Residual.CodesCombined), and StageCodes is the stack's whole choice.
	Codes *graph.Node
	// StageCodes holds one code tensor per stage (a single element for non-residual quantizers).
	StageCodes []*graph.Node
	// Loss is the scalar auxiliary loss to add to the model's loss (never nil: zero if none).
	Loss *graph.Node
	// Stats are scalar diagnostics of the batch, by name.
	Stats map[string]*graph.Node
}

// Quantizer is the interface every quantizer of the zoo implements.
type Quantizer interface {
	// Quantize quantizes z of shape [..., D]. It creates its variables under scope.
	Quantize(scope *model.Scope, z *graph.Node) Output
	// CodebookSize is the number of distinct codes of one stage (K).
	CodebookSize() int
	// Stages is the number of codes emitted per latent vector (1, or the depth of a residual stack).
	Stages() int
	// Name identifies the quantizer and its main settings, e.g. "simvq(K=1024)".
	Name() string
}

// DataInitializer is implemented by quantizers whose variables are initialised from data
// (e.g. k-means on the first batch of latents). The framework runs InitFromLatents once, on the
// first batch of a fresh run (never on resume), before the first training step.
type DataInitializer interface {
	// InitFromLatents builds the graph that sets the quantizer's variables from latents z [..., D].
	InitFromLatents(scope *model.Scope, z *graph.Node)
}

// BitsPerVector is the number of bits one latent vector costs: Stages · log2(CodebookSize).
func BitsPerVector(q Quantizer) float64 {
	return float64(q.Stages()) * math.Log2(float64(q.CodebookSize()))
}

// Hyperparameters shared by all quantizers. Each quantizer file declares its own as well.
const (
	// ParamType selects the quantizer: one of Types(). Default "vq".
	ParamType = "vq_type"
	// ParamCodebookSize is K, the number of codes of one stage. Default 1024 (int).
	// FSQ derives its levels from it, LFQ its number of bits (K must then be a power of two).
	ParamCodebookSize = "vq_codebook_size"
)

var params = hparams.List{
	{Key: ParamType, Default: "vq", Doc: "quantizer type: vq, ema_vq, simvq, fsq, lfq or rvq"},
	{Key: ParamCodebookSize, Default: 1024, Doc: "K, the number of codes of one stage"},
}

// RegisterParams adds a quantizer's hyperparameters to [Params]; each quantizer file calls it in init.
func RegisterParams(l hparams.List) { params = hparams.Merge(params, l) }

// Params lists the hyperparameters of all registered quantizers, with defaults and docs.
func Params() hparams.List { return params }

// Builder constructs a quantizer from the hyperparameters visible in scope.
type Builder func(scope *model.Scope) Quantizer

var builders = map[string]Builder{}

// Register makes a quantizer available under name to [New]. Each quantizer file registers
// itself in its init function.
func Register(name string, b Builder) {
	if _, dup := builders[name]; dup {
		panic(fmt.Sprintf("vq: quantizer %q registered twice", name))
	}
	builders[name] = b
}

// Types lists the registered quantizer names, sorted.
func Types() []string {
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// New builds the quantizer selected by [ParamType] in scope, configured from the scope's
// hyperparameters. It panics (graph-building code) naming the parameter when it is invalid.
func New(scope *model.Scope) Quantizer {
	name := model.GetParamOr(scope, ParamType, "vq")
	return ByName(scope, name)
}

// ByName builds the quantizer registered as name, configured from scope's hyperparameters.
func ByName(scope *model.Scope, name string) Quantizer {
	b, ok := builders[name]
	if !ok {
		exceptions.Panicf("vq: unknown %s=%q, valid values are: %s", ParamType, name, strings.Join(Types(), ", "))
	}
	return b(scope)
}
