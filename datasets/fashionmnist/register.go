package fashionmnist

import (
	"fmt"

	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// DatasetName is the name Fashion-MNIST is registered under with the framework.
const DatasetName = "fashion-mnist"

// ParamValidation is the number of training images, taken from the end of the training file,
// held out as the "validation" split (default 0: no validation split, all 60,000 train).
const ParamValidation = "fashion_mnist_validation"

func init() {
	framework.RegisterDataset(&framework.Dataset{
		Name: DatasetName,
		Doc:  "Fashion-MNIST: 28×28 grey images of clothing in 10 classes; splits train, validation (held out of train) and test (10,000)",
		Params: hparams.List{
			{Key: ParamValidation, Default: 0, Domain: hparams.Range(0, 59999),
				Doc: "images held out of the end of the training set as the validation split (0: none)"},
		},
		Load: func(dataDir string, params map[string]any) (*framework.Data, error) {
			ds, err := Load(dataDir)
			if err != nil {
				return nil, err
			}
			return ds.FrameworkData(params[ParamValidation].(int))
		},
	})
}

// FrameworkData returns the dataset for the framework's loop: training batches shuffled by
// seed over the training images less the last validation ones, and evaluation passes over
// "test" and, when validation > 0, "validation". Batches carry the class labels.
func (d *Dataset) FrameworkData(validation int) (*framework.Data, error) {
	if validation < 0 || validation >= d.Train.N {
		return nil, fmt.Errorf("fashionmnist: %s=%d must be in [0, %d)", ParamValidation, validation, d.Train.N)
	}
	train_, val := d.Train.split(d.Train.N - validation)
	splits := map[string]*Split{framework.SplitTest: d.Test}
	names := []string{framework.SplitTest}
	if validation > 0 {
		splits[framework.SplitValidation] = val
		names = append(names, framework.SplitValidation)
	}
	return &framework.Data{
		TrainBatches: func(batchSize int, seed int64, start int64) train.Dataset {
			return train_.Batches(DatasetName+"/train", batchSize).Shuffle(seed).Infinite(true).StartAtBatch(start)
		},
		EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
			s, ok := splits[split]
			if !ok {
				return nil, fmt.Errorf("fashionmnist: no split %q (have %v; set %s for a validation split)", split, names, ParamValidation)
			}
			return s.Batches(DatasetName+"/"+split, batchSize), nil
		},
		EvalSplits: names,
	}, nil
}

// split returns the first n examples and the rest, sharing the slices.
func (s *Split) split(n int) (head, tail *Split) {
	pixels := s.Height * s.Width
	head = &Split{Images: s.Images[:n*pixels], Labels: s.Labels[:n], N: n, Height: s.Height, Width: s.Width}
	tail = &Split{Images: s.Images[n*pixels:], Labels: s.Labels[n:], N: s.N - n, Height: s.Height, Width: s.Width}
	return head, tail
}
