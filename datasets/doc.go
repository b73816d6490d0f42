// Package datasets feeds in-memory data to GoMLX training and evaluation loops.
//
// ImageBatches implements GoMLX's train.Dataset over images held in memory: shuffled,
// endless streams for training whose batch k is a pure function of (seed, k), so a run
// resumed at step k sees exactly the batches an uninterrupted run would; and single passes
// for evaluation. The subpackages read datasets from disk: idx parses the IDX format of
// MNIST-like files, fashionmnist finds (or downloads) and loads Fashion-MNIST.
package datasets
