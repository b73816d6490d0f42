package fashionmnist_test

import (
	"fmt"

	"github.com/qzoo/qzoo/datasets/fashionmnist"
)

// Load the data, then stream shuffled training batches resumable at any step, and one pass
// over the test split.
func ExampleLoad() {
	data, err := fashionmnist.Load("") // Or a data directory.
	if err != nil {
		fmt.Println(err)
		return
	}
	const globalStep = 1000 // E.g. restored from a checkpoint.
	train := data.Train.Batches("train", 128).Shuffle(42).Infinite(true).StartAtBatch(globalStep)
	eval := data.Test.Batches("test", 1000)
	fmt.Println(train.Name(), train.BatchesPerEpoch(), eval.Name(), eval.BatchesPerEpoch())
}
