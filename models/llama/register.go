package llama

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// Params lists the architecture's hyperparameters (defaults: stories260K).
var Params = hparams.List{
	{Key: ParamDim, Default: Stories260K.Dim, Domain: hparams.Range(2, maxDim), Doc: "d: model width"},
	{Key: ParamHiddenDim, Default: Stories260K.HiddenDim, Domain: hparams.Range(1, 8*maxDim), Doc: "SwiGLU hidden width"},
	{Key: ParamLayers, Default: Stories260K.Layers, Domain: hparams.Range(1, maxLayers), Doc: "transformer blocks"},
	{Key: ParamHeads, Default: Stories260K.Heads, Domain: hparams.Range(1, maxDim), Doc: "query heads (divides llama_dim)"},
	{Key: ParamKVHeads, Default: Stories260K.KVHeads, Domain: hparams.Range(1, maxDim), Doc: "key/value heads (divides llama_heads; fewer: grouped-query attention)"},
	{Key: ParamVocabSize, Default: Stories260K.VocabSize, Domain: hparams.Range(1, maxVocab), Doc: "vocabulary size (the tokenizer's)"},
	{Key: ParamSeqLen, Default: Stories260K.SeqLen, Domain: hparams.Range(1, maxSeqLen), Doc: "context length"},
}

// Metrics of the language-model evaluation.
const (
	MetricPerplexity   = "perplexity"     // exp of the mean negative log-likelihood per token
	MetricNLL          = "nll"            // mean negative log-likelihood, nats per token
	MetricBitsPerToken = "bits_per_token" // nll / ln 2
	MetricTokens       = "tokens"         // tokens scored
)

// Stories260KFile and Tok512File are llama2.c's stories260K model and its tokenizer, relative
// to a data directory; LocateData downloads them from Karpathy's tinyllamas when missing.
const (
	Stories260KFile = "weights/stories260K.bin"
	Tok512File      = "weights/tok512.bin"
)

func init() {
	const tinyllamas = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/"
	framework.RegisterDataFile(framework.DataFile{Path: Stories260KFile, URL: tinyllamas + "stories260K.bin", MaxBytes: 2 << 20,
		SHA256: "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"})
	framework.RegisterDataFile(framework.DataFile{Path: Tok512File, URL: tinyllamas + "tok512.bin", MaxBytes: 1 << 20,
		SHA256: "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"})
	framework.Register(&framework.Model{
		Name:    "llama",
		Doc:     "llama2.c's Llama (RMSNorm, interleaved RoPE, GQA, SwiGLU, tied classifier); init_from a llama2.c .bin",
		Dataset: "text",
		Params:  Params,
		Build: func(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
			return framework.Outputs{Predictions: []*graph.Node{Forward(scope, inputs[0], nil, nil)}}
		},
		Loss: func(labels, predictions []*graph.Node) *graph.Node {
			return graph.ReduceAllMean(TokenNLL(predictions[0], labels[0]))
		},
		Pretrained: func(store *model.Store, path string, params map[string]any) error {
			w, err := ReadCheckpoint(path)
			if err != nil {
				return err
			}
			if err := CheckParams(params, w.Config); err != nil {
				return err
			}
			return w.Load(store)
		},
		Evaluate: Evaluate,
		Validate: func(params map[string]any) error {
			return ConfigFromParams(func(key string) int { return params[key].(int) }).Validate()
		},
	})
}

// TokenNLL is the negative log-likelihood −log softmax(logits)[label] of each token: logits
// [B, T, V], labels [B, T] int32 → [B, T] nats.
func TokenNLL(logits, labels *graph.Node) *graph.Node {
	logp := graph.LogSoftmax(logits, -1)
	onehot := graph.OneHot(labels, logits.Shape().Dimensions[2], logits.DType())
	return graph.Neg(graph.ReduceSum(graph.Mul(logp, onehot), -1))
}

// Evaluate measures perplexity over the evaluation split: the exact mean negative
// log-likelihood of every target token of its windows (see datasets/text).
func Evaluate(ctx *framework.EvalContext) (map[string]float64, error) {
	batches, err := ctx.Batches()
	if err != nil {
		return nil, err
	}
	exec, err := model.NewExec(ctx.Backend, ctx.Store, func(scope *model.Scope, tokens, labels *graph.Node) *graph.Node {
		return graph.ReduceAllSum(graph.ConvertDType(TokenNLL(Forward(scope, tokens, nil, nil), labels), dtypes.Float64))
	})
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	var sum float64
	var count int
	for batch, err := range batches.Iter() {
		if err != nil {
			return nil, err
		}
		if len(batch.Labels) == 0 {
			return nil, fmt.Errorf("llama: evaluation batches carry no target tokens (dataset %q)", ctx.Config.Dataset)
		}
		out, err := exec.Exec(batch.Inputs[0], batch.Labels[0])
		if err != nil {
			return nil, err
		}
		sum += tensors.ToScalar[float64](out[0])
		count += batch.Labels[0].Shape().Size()
		out[0].FinalizeAll()
		_ = batch.Finalize()
	}
	if count == 0 {
		return nil, fmt.Errorf("llama: evaluation split %q holds no tokens", ctx.Split)
	}
	nll := sum / float64(count)
	return map[string]float64{MetricPerplexity: math.Exp(nll), MetricNLL: nll,
		MetricBitsPerToken: nll / math.Ln2, MetricTokens: float64(count)}, nil
}
