package llama

// Quantized distillation: quantization-aware training (qat) whose student learns from a frozen
// full-precision teacher's logits as well as from the labels.
//
// Polino, Pascanu & Alistarh 2018 ("Model compression via distillation and quantization", §3,
// quantized distillation) train the student with fake-quantized weights (straight-through
// gradients to the float weights; here qat=ste or qat=lsq) on the distillation loss of Hinton
// et al. 2015 at every position:
//
//	L = (1−w)·CE(s, y) + w·T²·KL(softmax(t/T) ‖ softmax(s/T))
//
// with s the student's logits, t the teacher's, y the next token, w = qat_distill_weight and
// T = qat_distill_temperature (T² keeps the soft term's gradients on the scale of the hard
// one's as T grows); CE and KL are means over every target token of the batch.
//
// qat_distill=topk_kl restricts the divergence to the teacher's k most probable tokens S_k
// (k = qat_distill_topk), as TopKLD does (Ding et al. 2025, "Dissecting Bit-Level Scaling Laws in
// Quantizing Vision Generative Models"), which balances the teacher's explicit knowledge (its
// modes) against the implicit knowledge of its long tail. The paper's exact equation was not
// at hand; the form chosen here keeps the tail's total mass as one bucket R (the vocabulary
// outside S_k) rather than renormalising both distributions over S_k:
//
//	KL_k = Σ_{v∈S_k} p_v·log(p_v/q_v) + p_R·log(p_R/q_R),  p_R = Σ_{v∉S_k} p_v,  q_R = Σ_{v∉S_k} q_v
//
// with p = softmax(t/T), q = softmax(s/T). It is the KL divergence between the two
// distributions coarse-grained onto S_k ∪ {R}: a proper divergence (0 exactly when the student
// gives each of the teacher's top tokens, and the tail as a whole, the teacher's mass), never
// above the full KL (the data-processing inequality), equal to it for k ≥ V−1; unlike the
// renormalised form, which is blind to how much mass the student puts outside S_k, it
// penalises mass moved into the tail, so it stays a loss on its own (w = 1). S_k is the set of tokens whose teacher logit is at least the k-th
// largest distinct value: exactly k tokens unless the teacher's logits tie there. The tail
// masses are sums of probabilities (accurate however small) and their logarithms are taken of
// p_R + 1e-30 and q_R + 1e-30, so an empty tail (k ≥ V) contributes 0 and no NaN.
//
// The teacher is the config's teacher_from (framework.BuildTeacher: a llama2.c file or a llama
// run directory, frozen, never saved, not counted in model_bits); the student starts from
// init_from, usually the same network.

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// The values of qat_distill.
const (
	DistillNone   = "none"
	DistillKL     = "kl"      // full-vocabulary KL
	DistillTopKKL = "topk_kl" // the teacher's top k tokens and the tail as one bucket
)

// Distillation is a student's quantized-distillation setting (the qat_distill* keys).
type Distillation struct {
	Mode        string  // DistillNone, DistillKL or DistillTopKKL
	Weight      float64 // w ∈ [0, 1]
	Temperature float64 // T > 0
	TopK        int     // k ≥ 1, under DistillTopKKL
}

// DistillationFromParams reads the qat_distill* keys of resolved hyperparameters.
func DistillationFromParams(params map[string]any) Distillation {
	return Distillation{Mode: params[ParamQATDistill].(string), Weight: params[ParamQATDistillWeight].(float64),
		Temperature: params[ParamQATDistillTemperature].(float64), TopK: params[ParamQATDistillTopK].(int)}
}

// distillationOf reads the setting from a scope's hyperparameters. A network built in the
// teacher's scope never distils itself (a teacher that was a distilled student computes its
// logits only).
func distillationOf(scope *model.Scope) Distillation {
	if strings.HasPrefix(scope.Scope(), "/"+framework.TeacherScope) {
		return Distillation{Mode: DistillNone}
	}
	return Distillation{Mode: hparams.Get[string](scope, AdapterParams, ParamQATDistill),
		Weight:      hparams.Get[float64](scope, AdapterParams, ParamQATDistillWeight),
		Temperature: hparams.Get[float64](scope, AdapterParams, ParamQATDistillTemperature),
		TopK:        hparams.Get[int](scope, AdapterParams, ParamQATDistillTopK)}
}

// validateDistill checks the qat_distill keys against the others: distillation is an option
// of quantization-aware training, and k must not exceed the vocabulary.
func validateDistill(params map[string]any) error {
	d := DistillationFromParams(params)
	if d.Mode == DistillNone {
		return nil
	}
	if params[ParamQAT].(string) == "none" {
		return fmt.Errorf("key %q=%s needs quantization-aware training: set %q to ste or lsq", ParamQATDistill, d.Mode, ParamQAT)
	}
	if v := params[ParamVocabSize].(int); d.Mode == DistillTopKKL && d.TopK > v {
		return fmt.Errorf("key %q: k=%d exceeds the vocabulary %q=%d", ParamQATDistillTopK, d.TopK, ParamVocabSize, v)
	}
	return nil
}

// distillGraphKey is the graph parameter through which Build hands the student's setting to
// the model's Loss (GoMLX's train.LossFn sees only labels and predictions).
const distillGraphKey = "/llama_qat_distill"

// buildStudent is the registered model's Build: the logits [B, T, V] of the tokens, followed,
// when the scope's hyperparameters distil, by the frozen teacher's logits of the same tokens.
func buildStudent(scope *model.Scope, inputs []*graph.Node) framework.Outputs {
	logits := Forward(scope, inputs[0], nil, nil)
	d := distillationOf(scope)
	if d.Mode == DistillNone {
		return framework.Outputs{Predictions: []*graph.Node{logits}}
	}
	teacher := graph.StopGradient(framework.BuildTeacher(scope, inputs).Predictions[0])
	model.SetGraphParam(logits.Graph(), distillGraphKey, d)
	return framework.Outputs{Predictions: []*graph.Node{logits, teacher}}
}

// trainingLoss is the registered model's Loss: the mean negative log-likelihood of the labels,
// or with a teacher's logits among the predictions, [DistillationLoss].
func trainingLoss(labels, predictions []*graph.Node) *graph.Node {
	if len(predictions) == 1 {
		return graph.ReduceAllMean(TokenNLL(predictions[0], labels[0]))
	}
	d, ok := model.GetGraphParam(predictions[0].Graph(), distillGraphKey)
	if !ok {
		panic("llama: a teacher's logits without the distillation setting (Build sets it)")
	}
	return DistillationLoss(predictions[0], predictions[1], labels[0], d.(Distillation))
}

// DistillationLoss is L = (1−w)·CE + w·T²·KL of student logits [B, T, V] against the teacher's
// [B, T, V] and the labels [B, T] (see the file's doc): a scalar, the means over every token.
// The teacher's logits carry no gradient.
func DistillationLoss(student, teacher, labels *graph.Node, d Distillation) *graph.Node {
	topK := 0
	if d.Mode == DistillTopKKL {
		topK = d.TopK
	}
	ce := graph.ReduceAllMean(TokenNLL(student, labels))
	kl := graph.ReduceAllMean(KLDivergence(graph.StopGradient(teacher), student, d.Temperature, topK))
	return graph.Add(graph.MulScalar(ce, 1-d.Weight), graph.MulScalar(kl, d.Weight*d.Temperature*d.Temperature))
}

// tailEpsilon is added to the tail masses before their logarithm (see the file's doc).
const tailEpsilon = 1e-30

// KLDivergence is KL(softmax(t/T) ‖ softmax(s/T)) at every position, for teacher logits t and
// student logits s [..., V] → [...] nats; with topK in [1, V), KL_k over the teacher's topK
// most probable tokens and the rest as one bucket (see the file's doc); topK 0 (or ≥ V−1: the
// same value), the full divergence.
func KLDivergence(teacher, student *graph.Node, temperature float64, topK int) *graph.Node {
	logp := graph.LogSoftmax(graph.DivScalar(teacher, temperature), -1)
	logq := graph.LogSoftmax(graph.DivScalar(student, temperature), -1)
	p := graph.Exp(logp)
	terms := graph.Mul(p, graph.Sub(logp, logq))
	vocab := teacher.Shape().Dimensions[teacher.Rank()-1]
	if topK <= 0 || topK >= vocab {
		return graph.ReduceSum(terms, -1)
	}
	inTop := topKMask(teacher, topK)
	zero := graph.ScalarZero(teacher.Graph(), teacher.DType())
	kept := graph.ReduceSum(graph.Where(inTop, terms, zero), -1)
	pTail := graph.ReduceSum(graph.Where(inTop, zero, p), -1)
	qTail := graph.ReduceSum(graph.Where(inTop, zero, graph.Exp(logq)), -1)
	tail := graph.Mul(pTail, graph.Sub(graph.Log(graph.AddScalar(pTail, tailEpsilon)), graph.Log(graph.AddScalar(qTail, tailEpsilon))))
	return graph.Add(kept, tail)
}

// topKMask marks, along the last axis of logits [..., V], the values at least the k-th
// largest distinct one (k < V): the k-th is found by k−1 rounds of "the largest value below
// the last", with reductions and comparisons only (no sort: ONNX Runtime's backend has none).
func topKMask(logits *graph.Node, k int) *graph.Node {
	g := logits.Graph()
	below := graph.Infinity(g, logits.DType(), -1)
	threshold := graph.ReduceAndKeep(logits, graph.ReduceMax, -1)
	for range k - 1 {
		threshold = graph.ReduceAndKeep(graph.Where(graph.LessThan(logits, threshold), logits, below), graph.ReduceMax, -1)
	}
	return graph.GreaterOrEqual(logits, threshold)
}
