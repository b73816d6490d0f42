package framework

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework/hparams"
	"github.com/qzoo/qzoo/internal/registry"
)

// DataDirEnv names the environment variable of the shared data directory, searched by every
// loader after the data directory it is given.
const DataDirEnv = "QZOO_DATA_DIR"

// Names of the standard splits. A dataset trains on SplitTrain and evaluates on any of its
// Data.EvalSplits; configs choose the evaluation split with the "eval_split" key.
const (
	SplitTrain      = "train"
	SplitValidation = "validation"
	SplitTest       = "test"
)

// Data is a loaded dataset, ready to be cut into batches. Batches carry the model's inputs in
// Batch.Inputs and, when the dataset has them, labels (classes, next tokens, targets) in
// Batch.Labels, which reach Model.Loss and evaluators that implement [LabeledEvaluator].
type Data struct {
	// TrainBatches returns the endless training stream. Batch number k of the stream must be
	// a pure function of (seed, k), so that a resumed run sees exactly the batches an
	// uninterrupted run would: the stream starts at batch number start. datasets.Batches
	// gives this for any indexable source of examples.
	TrainBatches func(batchSize int, seed int64, start int64) train.Dataset
	// EvalBatches returns one pass, in order, over the named evaluation split (one of
	// EvalSplits), its last batch possibly smaller.
	EvalBatches func(split string, batchSize int) (train.Dataset, error)
	// EvalSplits lists the splits EvalBatches accepts, e.g. ["validation", "test"].
	EvalSplits []string
	// Source, if set, is the dataset's own description for models that need more than
	// batches: the training split's normalisation, coordinates, variable names (e.g.
	// *era5.Dataset). Hooks such as Model.Calibrate and Model.Evaluate reach it as
	// ctx.Data.Source and type-assert it.
	Source any
}

// Dataset describes a registered dataset: its name, its own hyperparameters and its loader.
// Each dataset lives in its own package (datasets/...) and registers itself in an init
// function; commands import models/all, which imports every dataset a model uses.
type Dataset struct {
	// Name is the registry key, used as "dataset" in configs and as Model.Dataset.
	Name string
	// Doc is a one-line description shown by --help.
	Doc string
	// Params are the dataset's own hyperparameters (e.g. how many training examples to hold
	// out as the validation split). Their keys share the config's "params" namespace with the
	// model's, so they must not collide with any model's keys; by convention they start with
	// the dataset's name.
	Params hparams.List
	// Load reads the dataset from dataDir ("" means: the loader's default search path) with
	// the resolved params (every key of Params present, of its declared type).
	Load func(dataDir string, params map[string]any) (*Data, error)
}

var datasets = registry.New[*Dataset]("dataset")

// RegisterDataset makes a dataset available to models and configs by name. Registering a
// name twice, or a dataset without Load, panics (a programming error).
func RegisterDataset(d *Dataset) {
	if d.Load == nil {
		panic(fmt.Sprintf("framework: dataset %q needs Load", d.Name))
	}
	datasets.Register(d.Name, d)
}

// Datasets returns the registered datasets sorted by name.
func Datasets() []*Dataset { return datasets.Values() }

// LookupDataset returns the dataset registered as name, or an error listing the valid names.
func LookupDataset(name string) (*Dataset, error) {
	d, err := datasets.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	return d, nil
}

// LoadDataset loads the dataset registered as name from dataDir with params, which may hold
// other keys too (a config's whole params map): the dataset's own keys not in params take
// their defaults, and every value is checked against its declared domain.
func LoadDataset(name, dataDir string, params map[string]any) (*Data, error) {
	d, err := LookupDataset(name)
	if err != nil {
		return nil, err
	}
	own := d.Params.Defaults()
	for k := range own {
		if v, ok := params[k]; ok {
			own[k] = v
		}
	}
	if err := d.Params.Validate(own); err != nil {
		return nil, fmt.Errorf("framework: dataset %s: %w", name, err)
	}
	data, err := d.Load(dataDir, own)
	if err != nil {
		return nil, fmt.Errorf("framework: dataset %s: %w", name, err)
	}
	if data == nil || data.TrainBatches == nil || data.EvalBatches == nil {
		return nil, fmt.Errorf("framework: dataset %s: loader returned no Data, or Data without TrainBatches or EvalBatches", name)
	}
	return data, nil
}

// checkSplit returns an error unless split is one of data's evaluation splits.
func (d *Data) checkSplit(split string) error {
	if len(d.EvalSplits) > 0 && !slices.Contains(d.EvalSplits, split) {
		return fmt.Errorf(`key "eval_split": %q is not a split of this dataset; its evaluation splits are: %s`,
			split, strings.Join(d.EvalSplits, ", "))
	}
	return nil
}
