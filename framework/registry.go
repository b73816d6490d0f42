package framework

import (
	"fmt"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/registry"
)

// Model describes a zoo member: how to build it, its hyperparameters with their defaults, the
// dataset it trains on and how it is evaluated. Models register themselves with [Register]
// in an init function of their package; commands import models/all to see every one.
//
// Only Name, Build and one of NewEvaluator or Evaluate are required; every other hook is
// optional and [Run] calls it at its documented point, so that no family needs a loop of
// its own.
type Model struct {
	// Name is the registry key, used as "model" in configs.
	Name string
	// Doc is a one-line description shown by --help.
	Doc string
	// Dataset is the name of the default dataset (see [RegisterDataset]); configs may choose
	// another with the "dataset" key.
	Dataset string
	// Params lists every hyperparameter the model (and its layers) reads, with defaults and
	// domains.
	Params hparams.List
	// Build builds the model for a batch of inputs (as yielded by the dataset). It adds its
	// losses with train.AddLoss (or returns predictions for Loss) and returns the outputs the
	// evaluator needs plus named scalar statistics that are logged during training.
	Build func(scope *model.Scope, inputs []*graph.Node) Outputs
	// Loss, if set, is the training loss of the batch's labels and Build's predictions (GoMLX's
	// train.LossFn), added to whatever Build added with train.AddLoss. Models that learn from
	// labels (next tokens, classes, targets) use it.
	Loss func(labels, predictions []*graph.Node) *graph.Node
	// Scalars names the statistics Build may return in Outputs.Scalars, in the order they are
	// logged. A statistic Build does not return for some hyperparameters (e.g. a quantizer
	// without code statistics) is logged as null.
	Scalars []string
	// Init, if set, builds a graph run once on the first batch of a fresh run (never on
	// resume), before the first training step: data-dependent initialisation such as k-means
	// codebooks.
	Init func(scope *model.Scope, inputs []*graph.Node)
	// Pretrained, if set, fills variables from the file named by the config's "init_from"
	// key (a llama2.c checkpoint, safetensors) before step 1 of a fresh run; it is never run
	// on resume, and the file's SHA-256 is recorded in every checkpoint. It creates the
	// variables it fills under store's root scope with the names Build uses.
	Pretrained func(store *model.Store, path string, params map[string]any) error
	// Teacher, if set, is the registry name of the model this one distils from by default (the
	// config's "teacher_model" may name another with the same inputs and outputs). The config's
	// "teacher_from" (a run directory of that model, or a file its Pretrained hook reads) is then
	// required, and its trained network is a frozen part of this model's graph: Build calls
	// [BuildTeacher] for its outputs. The teacher's variables live under [TeacherScope], are
	// never trained and never saved; its SHA-256 is recorded in every checkpoint instead, and a
	// run resumed or re-evaluated with another teacher is refused.
	Teacher string
	// NeedsTeacher, if set, says whether a config with these resolved hyperparameters
	// distils: "teacher_from" is then required, and otherwise refused (a model that distils
	// only as an option, as llama under qat_distill). Nil: always, for a model with a Teacher.
	NeedsTeacher func(params map[string]any) bool
	// Calibrate, if set, runs once on a fresh run after Pretrained and Init, never on resume
	// (its results are variables, saved in the checkpoints): data-dependent transformations
	// of the initial model such as post-training quantization with calibration statistics.
	// ctx.Split is "train" and ctx.CalibrationBatches gives the training stream; ctx.Step is 0.
	Calibrate func(ctx *EvalContext) error
	// Trainable, if set, says which variables training updates: a frozen base under
	// trainable adapters, a frozen basis. path is the variable's full path (e.g.
	// "/quantizer/codebook"). Variables Build creates as non-trainable stay so; the
	// config's "freeze" key freezes more.
	Trainable func(path string, params map[string]any) bool
	// NewEvaluator returns an evaluator for the resolved hyperparameters: it accumulates the
	// predictions of every batch of the evaluation split. Evaluators that also need the
	// batch's labels implement [LabeledEvaluator]. Its error (hyperparameters it cannot
	// evaluate) fails the evaluation, naming the model.
	NewEvaluator func(params map[string]any) (Evaluator, error)
	// Evaluate, if set, evaluates with access to the trained variables, the backend and the
	// data (generation with a cache, a real entropy coder's bitstream, perplexity over a
	// token stream). Its metrics are merged with NewEvaluator's (if any); a metric both
	// report is an error.
	Evaluate func(ctx *EvalContext) (map[string]float64, error)
	// Validate, if set, checks the resolved hyperparameters beyond each key's own domain
	// (hparams.Param.Domain): constraints between keys, or a quantizer that cannot be built
	// from them. Its error should name the key(s); configs that fail it are refused before
	// any data is loaded or graph built.
	Validate func(params map[string]any) error
}

// Outputs is what Model.Build returns.
type Outputs struct {
	// Predictions are passed, with the batch, to the Evaluator (and to Model.Loss).
	Predictions []*graph.Node
	// Scalars are batch statistics logged during training, by name (e.g. "mse",
	// "code_perplexity"); each must be one of Model.Scalars.
	Scalars map[string]*graph.Node
}

// Evaluator accumulates a model's outputs over a whole evaluation set and reports metrics.
type Evaluator interface {
	// Add accumulates one batch: the dataset's inputs and the model's predictions.
	Add(inputs, predictions []*tensors.Tensor) error
	// Metrics returns the metrics over everything added so far, by name.
	Metrics() map[string]float64
}

// LabeledEvaluator is an Evaluator that also takes the batch's labels; the evaluation loop
// calls AddLabeled instead of Add when the evaluator implements it.
type LabeledEvaluator interface {
	Evaluator
	AddLabeled(inputs, labels, predictions []*tensors.Tensor) error
}

// SamplingEvaluator is an Evaluator that also keeps one value per example (e.g. each image's
// MSE, in the split's order); after the last batch the evaluation loop records its Samples as
// [EvalContext.RecordSamples] does.
type SamplingEvaluator interface {
	Evaluator
	Samples() map[string][]float64
}

var models = registry.New[*Model]("model")

// Register adds a model to the registry. Registering a name twice, or a model without Build
// and one of NewEvaluator or Evaluate, panics (a programming error).
func Register(m *Model) {
	if m.Build == nil || (m.NewEvaluator == nil && m.Evaluate == nil) {
		panic(fmt.Sprintf("framework: model %q needs Build, and NewEvaluator or Evaluate", m.Name))
	}
	models.Register(m.Name, m)
}

// Models returns the registered models sorted by name.
func Models() []*Model { return models.Values() }

// LookupModel returns the registered model called name, or an error listing the valid names.
func LookupModel(name string) (*Model, error) {
	m, err := models.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	return m, nil
}

// Help writes the registered models, datasets and optimizer keys with their hyperparameters
// (for --help).
func Help() string {
	var b strings.Builder
	writeParams := func(list hparams.List) {
		for _, p := range list {
			fmt.Fprintf(&b, "    %-28s %-8s default %-10v %s\n", p.Key, hparams.TypeName(p.Default), fmt.Sprintf("%q", fmt.Sprint(p.Default)), p.Doc)
		}
	}
	for _, m := range Models() {
		fmt.Fprintf(&b, "model %q (default dataset %s): %s\n", m.Name, m.Dataset, m.Doc)
		writeParams(m.Params)
	}
	for _, d := range Datasets() {
		fmt.Fprintf(&b, "dataset %q: %s\n", d.Name, d.Doc)
		writeParams(d.Params)
	}
	fmt.Fprintf(&b, "optimizer keys (GoMLX's, in params, for every model):\n")
	writeParams(OptimizerParams)
	fmt.Fprintf(&b, "framework keys (in params, for every model; where a run computes, not what):\n")
	writeParams(RunParams)
	return b.String()
}
