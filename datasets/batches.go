package datasets

import (
	"fmt"
	"iter"
	"math/bits"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// ImageBatches yields batches of images and their class labels. Inputs hold one float32
// tensor shaped [B, H, W, 1], Labels one int32 tensor shaped [B].
//
// Two modes:
//   - Infinite(true), for training: an endless stream of full batches. Epoch e visits the
//     examples in the order of a permutation seeded by (seed, e) when shuffling, in storage
//     order otherwise; the examples left over after the last full batch of an epoch are
//     skipped in that epoch. Batch k is therefore a pure function of (seed, k).
//   - Infinite(false), the default, for evaluation: exactly one pass, the last partial batch
//     included unless DropRemainder(true).
//
// Create it with NewImageBatches and configure it with its chainable options before
// iterating. Invalid settings are reported as the first (and only) error of Iter.
type ImageBatches struct {
	name                    string
	images                  []float32
	labels                  []uint8
	n, height, width        int
	batchSize               int
	shuffle                 bool
	seed                    int64
	infinite, dropRemainder bool
	start                   int64
}

var _ train.Dataset = (*ImageBatches)(nil)

// NewImageBatches returns batches over n images of height×width pixels stored row-major in
// images (len n·height·width) with labels (len n). The slices are shared, not copied.
func NewImageBatches(name string, images []float32, labels []uint8, n, height, width, batchSize int) *ImageBatches {
	return &ImageBatches{name: name, images: images, labels: labels, n: n, height: height, width: width,
		batchSize: batchSize}
}

// Shuffle makes every epoch visit the examples in the order of a permutation seeded by
// (seed, epoch).
func (b *ImageBatches) Shuffle(seed int64) *ImageBatches {
	b.shuffle, b.seed = true, seed
	return b
}

// Infinite selects an endless stream of full batches (training) instead of one pass.
func (b *ImageBatches) Infinite(infinite bool) *ImageBatches {
	b.infinite = infinite
	return b
}

// DropRemainder leaves out the last partial batch of a single pass. Infinite streams always
// leave it out, so that every batch has the same shape.
func (b *ImageBatches) DropRemainder(drop bool) *ImageBatches {
	b.dropRemainder = drop
	return b
}

// StartAtBatch makes Iter start at batch k of the stream (counted from 0 across epochs): to
// resume training at global step k, pass k.
func (b *ImageBatches) StartAtBatch(k int64) *ImageBatches {
	b.start = k
	return b
}

// Name implements train.Dataset.
func (b *ImageBatches) Name() string { return b.name }

// BatchesPerEpoch is the number of batches in one pass over the examples.
func (b *ImageBatches) BatchesPerEpoch() int {
	if b.batchSize <= 0 {
		return 0
	}
	if b.infinite || b.dropRemainder {
		return b.n / b.batchSize
	}
	return (b.n + b.batchSize - 1) / b.batchSize
}

// Validate reports settings that Iter would reject.
func (b *ImageBatches) Validate() error {
	switch {
	case b.n <= 0 || b.height <= 0 || b.width <= 0:
		return fmt.Errorf("datasets: %s: n, height and width must be positive, got %d, %d, %d",
			b.name, b.n, b.height, b.width)
	case len(b.images) != b.n*b.height*b.width:
		return fmt.Errorf("datasets: %s: images has %d values, want n·height·width = %d·%d·%d = %d",
			b.name, len(b.images), b.n, b.height, b.width, b.n*b.height*b.width)
	case len(b.labels) != b.n:
		return fmt.Errorf("datasets: %s: labels has %d values, want n = %d", b.name, len(b.labels), b.n)
	case b.batchSize <= 0:
		return fmt.Errorf("datasets: %s: batch size must be positive, got %d", b.name, b.batchSize)
	case b.BatchesPerEpoch() == 0:
		return fmt.Errorf("datasets: %s: batch size %d is larger than the %d examples and the partial batch is dropped",
			b.name, b.batchSize, b.n)
	case b.start < 0:
		return fmt.Errorf("datasets: %s: StartAtBatch must be non-negative, got %d", b.name, b.start)
	}
	return nil
}

// Iter implements train.Dataset. Each call starts afresh at the StartAtBatch position.
func (b *ImageBatches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		if err := b.Validate(); err != nil {
			yield(train.Batch{}, err)
			return
		}
		perEpoch := int64(b.BatchesPerEpoch())
		pixels := b.height * b.width
		imageBuf := make([]float32, b.batchSize*pixels)
		labelBuf := make([]int32, b.batchSize)
		var order []int32
		orderEpoch := int64(-1)
		for k := b.start; b.infinite || k < perEpoch; k++ {
			epoch, pos := k/perEpoch, int(k%perEpoch)
			if b.shuffle && epoch != orderEpoch {
				order, orderEpoch = permutation(b.n, b.seed, epoch), epoch
			}
			lo := pos * b.batchSize
			size := min(b.batchSize, b.n-lo)
			for i := range size {
				example := lo + i
				if order != nil {
					example = int(order[example])
				}
				copy(imageBuf[i*pixels:(i+1)*pixels], b.images[example*pixels:(example+1)*pixels])
				labelBuf[i] = int32(b.labels[example])
			}
			batch := train.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(imageBuf[:size*pixels], size, b.height, b.width, 1)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labelBuf[:size], size)},
			}
			if !yield(batch, nil) {
				return
			}
		}
	}
}

// permutation returns a permutation of 0..n-1 that depends only on (seed, epoch). It uses its
// own Fisher–Yates shuffle over the PCG generator, whose output is fully specified, so that
// the order does not change with the Go version's shuffling code.
func permutation(n int, seed, epoch int64) []int32 {
	rng := rand.NewPCG(uint64(seed), uint64(epoch))
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	for i := n - 1; i > 0; i-- {
		// Multiply-high maps a uniform 64-bit value to [0, i]; the bias, < (i+1)/2⁶⁴, is negligible.
		j, _ := bits.Mul64(rng.Uint64(), uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}
