package framework

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/framework/hparams"
)

// Model describes a zoo member: how to build it, its hyperparameters with their defaults, the
// dataset it trains on and how it is evaluated. Models register themselves with [Register]
// in an init function of their package; commands import models/all to see every one.
type Model struct {
	// Name is the registry key, used as "model" in configs.
	Name string
	// Doc is a one-line description shown by --help.
	Doc string
	// Dataset is the name of the dataset (see [RegisterDataset]) the model trains on.
	Dataset string
	// Params lists every hyperparameter the model (and its layers) reads, with defaults.
	Params hparams.List
	// Build builds the model for a batch of inputs (as yielded by the dataset). It adds its
	// losses with train.AddLoss and returns the outputs the evaluator needs plus named
	// scalar statistics that are logged during training.
	Build func(scope *model.Scope, inputs []*graph.Node) Outputs
	// Scalars names the statistics Build returns in Outputs.Scalars, in the order they are logged.
	Scalars []string
	// Init, if set, builds a graph run once on the first batch of a fresh run (never on
	// resume), before the first training step: data-dependent initialisation such as k-means
	// codebooks. It may be nil.
	Init func(scope *model.Scope, inputs []*graph.Node)
	// NewEvaluator returns an evaluator for the resolved hyperparameters.
	NewEvaluator func(params map[string]any) Evaluator
	// Validate, if set, checks the resolved hyperparameters beyond each key's own domain
	// (hparams.Param.Domain): constraints between keys, or a quantizer that cannot be built
	// from them. Its error should name the key(s); configs that fail it are refused before
	// any data is loaded or graph built.
	Validate func(params map[string]any) error
}

// Outputs is what Model.Build returns.
type Outputs struct {
	// Predictions are passed, with the batch, to the Evaluator.
	Predictions []*graph.Node
	// Scalars are batch statistics logged during training, by name (e.g. "mse", "perplexity").
	Scalars map[string]*graph.Node
}

// Evaluator accumulates a model's outputs over a whole evaluation set and reports metrics.
type Evaluator interface {
	// Add accumulates one batch: the dataset's inputs and the model's predictions.
	Add(inputs, predictions []*tensors.Tensor) error
	// Metrics returns the metrics over everything added so far, by name.
	Metrics() map[string]float64
}

var models = map[string]*Model{}

// Register adds a model to the registry. Registering a name twice panics (a programming error).
func Register(m *Model) {
	if _, dup := models[m.Name]; dup {
		panic(fmt.Sprintf("framework: model %q registered twice", m.Name))
	}
	if m.Build == nil || m.NewEvaluator == nil {
		panic(fmt.Sprintf("framework: model %q needs Build and NewEvaluator", m.Name))
	}
	models[m.Name] = m
}

// Models returns the registered models sorted by name.
func Models() []*Model {
	out := make([]*Model, 0, len(models))
	for _, m := range models {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupModel returns the registered model called name, or an error listing the valid names.
func LookupModel(name string) (*Model, error) {
	m, ok := models[name]
	if !ok {
		names := make([]string, 0, len(models))
		for n := range models {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("framework: unknown model %q; registered models: %s", name, strings.Join(names, ", "))
	}
	return m, nil
}

// Help writes the registered models and their hyperparameters (for --help).
func Help() string {
	var b strings.Builder
	for _, m := range Models() {
		fmt.Fprintf(&b, "model %q (dataset %s): %s\n", m.Name, m.Dataset, m.Doc)
		for _, p := range m.Params {
			fmt.Fprintf(&b, "    %-28s %-8s default %-10v %s\n", p.Key, typeName(p.Default), p.Default, p.Doc)
		}
	}
	return b.String()
}
