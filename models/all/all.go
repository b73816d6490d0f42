// Package all registers every model and dataset of the zoo with the framework: commands,
// notebooks and tests import it for its side effects.
package all

import (
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/datasets/fashionmnist"
	"github.com/qzoo/qzoo/framework"

	_ "github.com/qzoo/qzoo/models/vqae" // registers "vqae"
)

func init() {
	framework.RegisterDataset("fashion-mnist", LoadFashionMNIST)
}

// LoadFashionMNIST loads Fashion-MNIST for the framework: training batches shuffled by seed,
// evaluation on the 10,000 test images.
func LoadFashionMNIST(dataDir string) (*framework.Data, error) {
	ds, err := fashionmnist.Load(dataDir)
	if err != nil {
		return nil, err
	}
	return &framework.Data{
		TrainBatches: func(batchSize int, seed int64, start int64) train.Dataset {
			return ds.Train.Batches("fashion-mnist/train", batchSize).Shuffle(seed).Infinite(true).StartAtBatch(start)
		},
		EvalBatches: func(batchSize int) train.Dataset {
			return ds.Test.Batches("fashion-mnist/test", batchSize)
		},
	}, nil
}
