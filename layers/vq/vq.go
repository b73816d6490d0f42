// Package vq holds the quantizers of the zoo behind one interface, so that a model can swap
// VQ ↔ EMA VQ ↔ SimVQ ↔ FSQ ↔ LFQ ↔ residual stacks ↔ QLAE ↔ binary latents by configuration.
//
// Every quantizer maps latents z of shape [..., D] to an [Output]:
//
//	Quantized: same shape as z, with a straight-through gradient to z: z + StopGradient(q − z);
//	Codes:     what a receiver needs to rebuild Quantized with [Decoder.Decode]: one int32 code
//	           tensor [...] per stage ([..., D] for per-element codes), and named side
//	           information (scales, zero points, ...);
//	Bits:      a scalar, the bits one latent vector costs, side information included;
//	Loss:      a scalar auxiliary loss (commitment, codebook, entropy terms), already weighted;
//	Stats:     scalar diagnostics of the batch (e.g. "code_perplexity", "used_codes").
//
// Quantizers are configured by hyperparameters: [ParamType] selects the type and the other
// vq_* keys, each documented where it is declared, configure it. Each type has an options
// struct (e.g. [VQOptions]) whose fields name their keys, filled by [ReadOptions], and a
// constructor taking it (e.g. [NewVQ]); [New] and [FromParams] build the configured type.
//
// A model may hold several differently configured quantizers (e.g. one for the keys and one
// for the values of a KV cache): each reads its keys under its own prefix, "k" reading
// "k_vq_type", "k_vq_codebook_size", ... (see [ParamsWithPrefix], [New]). The empty prefix
// reads the plain keys.
package vq

import (
	"errors"
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/registry"
	"github.com/qzoo/qzoo/quant/scheme"
)

// Codes is what a quantizer transmits for a batch of latents [..., D], and what
// [Decoder.Decode] takes back.
type Codes struct {
	// Stages holds one int32 code tensor per stage (a single one, or one per stage of a
	// residual stack), all of one shape: [...], the latents' shape without its last axis, for
	// the vector quantizers of this package (one code per latent vector); [..., D] for a
	// quantizer that codes each element (e.g. per-group integer quantization of weights).
	Stages []*graph.Node
	// Side holds side information by name: values the decoder needs besides the codes, such as
	// the per-group scales and zero points of a weight or KV-cache quantizer. Each quantizer
	// documents its names and shapes. It is empty for the quantizers of this package; a
	// residual stack holds its stages' side information under "stage_00_<name>", ...
	Side map[string]*graph.Node
}

// Output is what a [Quantizer] returns for a batch of latents z [..., D].
type Output struct {
	// Quantized has the shape of z; its gradient flows straight through to z.
	Quantized *graph.Node
	// Codes are the codes of every stage and the side information.
	Codes Codes
	// Index holds one int32 index per latent vector, of shape [...]: the code itself for a
	// single-stage quantizer; for a residual stack whose K^Stages fits in an int32 the stage
	// codes combined in mixed radix (stage 0 the lowest digit), otherwise the stage-0 codes
	// (see Residual.IndexCombined). It is nil for quantizers whose codes of one vector do not
	// make one index (per-element codes).
	Index *graph.Node
	// Bits is a scalar: the number of bits one latent vector costs on average over the batch,
	// side information included. For the fixed-rate quantizers of this package it is the
	// constant Σ_stages log2 K; an entropy-coded quantizer reports its data-dependent rate.
	Bits *graph.Node
	// Loss is the scalar auxiliary loss to add to the model's loss (never nil: zero if none).
	Loss *graph.Node
	// Stats are scalar diagnostics of the batch, by name. A quantizer reports only those it
	// can compute; consumers must not assume any is present.
	Stats map[string]*graph.Node
}

// Quantizer is the interface every quantizer of the zoo implements.
type Quantizer interface {
	// Quantize quantizes z of shape [..., D]. It creates its variables under scope.
	Quantize(scope *model.Scope, z *graph.Node) Output
	// CodebookSize is the number of distinct codes of one stage (K).
	CodebookSize() int
	// Stages is the number of code tensors in Output.Codes.Stages (1, or the depth of a residual stack).
	Stages() int
	// Name identifies the quantizer and its main settings, e.g. "simvq(K=1024)".
	Name() string
	// Scheme describes the quantizer in the zoo's vocabulary (package quant/scheme): kind
	// latents, Bits the bits of one latent vector's codes (log₂ K per stage, the rate of
	// Output.Bits for the fixed-rate quantizers of this package), axis per vector. Dim is 0:
	// the latent width is the model's, which may set it. The codebook itself belongs to the
	// decoder's weights, not to a latent's storage ([LatentStorage]).
	Scheme() scheme.Scheme
}

// LatentStorage is the storage of n latent vectors of dim values coded with s, as Codes:
// n·s.Bits bits (a model's bits per image is LatentStorage of its latents' count). Only a
// fixed-rate scheme's storage is known without data.
func LatentStorage(s scheme.Scheme, n, dim int) scheme.Storage {
	return scheme.Storage{Values: int64(n) * int64(dim), Codes: float64(n) * s.Bits}
}

// codebookScheme is the scheme of a single-stage quantizer with a learned codebook of k vectors.
func codebookScheme(method string, k int) scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Latents, Method: method, Bits: scheme.CodeBits(k), Type: scheme.Vectors,
		Codebook: k, Axis: scheme.PerVector}
}

// Decoder is implemented by quantizers that can rebuild the quantized latents from their
// codes alone, which is what the receiving side of a compressed bitstream has.
type Decoder interface {
	// Decode returns the quantized latents [..., D] for codes as in Output.Codes (int32 code
	// tensors of shape [...], one per stage, and the side information). It reads the variables
	// that Quantize created under the same scope, so Quantize must have been built (in this or
	// an earlier graph) first. It panics if the codes have the wrong number, type or shapes.
	Decode(scope *model.Scope, codes Codes) *graph.Node
}

// DataInitializer is implemented by quantizers whose variables are initialised from data
// (e.g. k-means on the first batch of latents). The framework runs InitFromLatents once, on the
// first batch of a fresh run (never on resume), before the first training step.
type DataInitializer interface {
	// InitFromLatents builds the graph that sets the quantizer's variables from latents z [..., D].
	InitFromLatents(scope *model.Scope, z *graph.Node)
}

// Options is implemented by the options struct of every quantizer type ([VQOptions],
// [EMAOptions], [SimVQOptions], [FSQOptions], [LFQOptions], [ResidualOptions], [QLAEOptions],
// [BinaryOptions]). Their fields
// carry the hyperparameter they mirror in a `vq:"key"` tag; [ReadOptions] fills them.
type Options interface {
	// New builds the quantizer the options describe. Its error is a [*KeyError] naming the
	// hyperparameter to fix.
	New() (Quantizer, error)
}

// asQuantizer returns q as a Quantizer, or a nil Quantizer (not one holding a nil pointer) with err.
func asQuantizer[T Quantizer](q T, err error) (Quantizer, error) {
	if err != nil {
		return nil, err
	}
	return q, nil
}

// KeyError reports a hyperparameter value that cannot configure a quantizer.
type KeyError struct {
	// Key is the hyperparameter, with the prefix of the quantizer instance when the error
	// comes from [FromParams], [Validate] or [New].
	Key string
	// Err says what is wrong.
	Err error
}

func (e *KeyError) Error() string { return fmt.Sprintf("vq: key %s: %v", e.Key, e.Err) }

func (e *KeyError) Unwrap() error { return e.Err }

// keyErrorf returns a *KeyError for key with a formatted message.
func keyErrorf(key, format string, args ...any) *KeyError {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Hyperparameters shared by all quantizers. Each quantizer file declares its own as well.
const (
	// ParamType selects the quantizer: one of Types(). Default "vq" (string).
	ParamType = "vq_type"
	// ParamCodebookSize is K, the number of codes of one stage, at least 2. Default 1024 (int).
	// FSQ derives its levels from it, LFQ its number of bits (K must then be a power of two).
	ParamCodebookSize = "vq_codebook_size"
)

var params = hparams.List{
	{Key: ParamType, Default: "vq", Doc: "quantizer type: vq, ema_vq, simvq, fsq, lfq, rvq, qlae or binary",
		Domain: hparams.OneOfFunc(Types)},
	{Key: ParamCodebookSize, Default: 1024, Doc: "K, the number of codes of one stage",
		Domain: hparams.AtLeast(2)},
}

// RegisterParams adds a quantizer's hyperparameters to [Params]; each quantizer file calls it
// in init. Keys must start with "vq_" and have a default of type int, float64, bool or string.
func RegisterParams(l hparams.List) { params = hparams.Merge(params, l) }

// Params lists the hyperparameters of all registered quantizers, with defaults, docs and domains.
func Params() hparams.List { return params }

// PrefixedKey returns the key under which the quantizer instance with the given prefix reads
// the hyperparameter key: key itself for the prefix "", else prefix + "_" + key
// (PrefixedKey("k", "vq_type") = "k_vq_type").
func PrefixedKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "_" + key
}

// ParamsWithPrefix is [Params] with every key renamed by [PrefixedKey]: the hyperparameters of
// one more quantizer instance, to merge into a model's list. Docs, defaults and domains are
// kept. ParamsWithPrefix("") is Params().
func ParamsWithPrefix(prefix string) hparams.List {
	out := make(hparams.List, len(params))
	for i, p := range params {
		p.Key = PrefixedKey(prefix, p.Key)
		out[i] = p
	}
	return out
}

var quantizers = registry.New[func() Options]("quantizer type")

// Register makes a quantizer type available under name to [New] and [FromParams]. newOptions
// returns a pointer to a zero options struct of the type, which [ReadOptions] fills. Each
// quantizer file registers its type in its init function; registering a name twice panics.
func Register(name string, newOptions func() Options) { quantizers.Register(name, newOptions) }

// Types lists the registered quantizer names, sorted.
func Types() []string { return quantizers.Names() }

// optionsOf returns the zero options of the registered type name, or a *KeyError for key.
func optionsOf(key, name string) (Options, error) {
	newOptions, err := quantizers.Lookup(name)
	if err != nil {
		return nil, &KeyError{Key: key, Err: err}
	}
	return newOptions(), nil
}

// FromParams builds, without a graph, the quantizer that params select under prefix (keys
// "<prefix>_vq_type", ...; see [PrefixedKey]); keys params lacks take their registered
// defaults. The error is a [*KeyError] naming the prefixed key: an unknown type, a value of the
// wrong type or outside its domain, or a combination the type cannot build (e.g. an LFQ
// codebook size that is not a power of two).
func FromParams(params map[string]any, prefix string) (Quantizer, error) {
	return buildQuantizer(mapLookup(params), prefix)
}

// Validate reports whether params configure a quantizer under prefix: it returns the error of
// [FromParams], so that a model can refuse a config before loading data or building a graph.
func Validate(params map[string]any, prefix string) error {
	_, err := FromParams(params, prefix)
	return err
}

// New builds the quantizer that the hyperparameters visible in scope select under prefix (see
// [FromParams]). It is graph-building code: it panics with the *KeyError.
func New(scope *model.Scope, prefix string) Quantizer {
	q, err := buildQuantizer(scopeLookup(scope), prefix)
	if err != nil {
		exceptions.Panicf("%v", err)
	}
	return q
}

// buildQuantizer reads the options of the selected type from get and builds the quantizer, prefixing
// the key of any *KeyError.
func buildQuantizer(get lookup, prefix string) (Quantizer, error) {
	var selected struct {
		Options Options `vq:"vq_type"`
	}
	q, err := func() (Quantizer, error) {
		if err := readOptions(get, prefix, &selected); err != nil {
			return nil, err
		}
		return selected.Options.New()
	}()
	var ke *KeyError
	if errors.As(err, &ke) {
		return nil, &KeyError{Key: PrefixedKey(prefix, ke.Key), Err: ke.Err}
	}
	return q, err
}
