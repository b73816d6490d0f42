// Package datasets is the reusable core of qzoo's data feeding: it cuts any indexable source of
// examples into GoMLX train.Dataset batches that resume exactly.
//
// A [Source] is anything with a length and a way to stack the examples at given indices into
// input and label tensors: images in memory ([Images]), windows of a token stream, ERA5
// fields or patches, audio clips. [Batches] turns it into shuffled, endless training streams
// whose batch k is a pure function of (seed, k), so a run resumed at step k sees exactly the
// batches an uninterrupted run would, and into single in-order passes for evaluation.
//
// The subpackages read datasets from disk and register them with the framework (each with its
// own validated hyperparameters and named splits): idx parses the IDX format of MNIST-like
// files, fashionmnist finds (or downloads) and loads Fashion-MNIST.
package datasets
