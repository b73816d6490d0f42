package framework

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/gomlx/ml/train"
)

// Data is a loaded dataset, ready to be cut into batches.
type Data struct {
	// TrainBatches returns the endless training stream. Batch number k of the stream is a pure
	// function of (seed, k), so that a resumed run sees exactly the batches an uninterrupted
	// run would: the stream starts at batch number start.
	TrainBatches func(batchSize int, seed int64, start int64) train.Dataset
	// EvalBatches returns one pass, in order, over the evaluation split.
	EvalBatches func(batchSize int) train.Dataset
}

// DatasetLoader loads a dataset from dataDir ("" means: the loader's default search path).
type DatasetLoader func(dataDir string) (*Data, error)

var datasets = map[string]DatasetLoader{}

// RegisterDataset makes a dataset available to models by name.
func RegisterDataset(name string, load DatasetLoader) {
	if _, dup := datasets[name]; dup {
		panic(fmt.Sprintf("framework: dataset %q registered twice", name))
	}
	datasets[name] = load
}

// LoadDataset loads the dataset registered as name from dataDir.
func LoadDataset(name, dataDir string) (*Data, error) {
	load, ok := datasets[name]
	if !ok {
		names := make([]string, 0, len(datasets))
		for n := range datasets {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("framework: unknown dataset %q; registered: %s", name, strings.Join(names, ", "))
	}
	return load(dataDir)
}
