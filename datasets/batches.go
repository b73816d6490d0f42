package datasets

import (
	"fmt"
	"iter"
	"math/bits"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// Source is an indexable collection of examples: images, windows of a token stream, ERA5
// fields or patches, audio clips. [Batches] cuts any Source into resumable batches.
type Source interface {
	// Len is the number of examples.
	Len() int
	// Batch returns the model inputs and the labels (nil if none) of the examples at indices
	// (each in [0, Len())), stacked along a new leading batch axis of len(indices). It must be
	// a pure function of indices. The tensors are owned by the caller.
	Batch(indices []int) (inputs, labels []*tensors.Tensor, err error)
}

// Batches yields batches of a Source and implements GoMLX's train.Dataset.
//
// Two modes:
//   - Infinite(true), for training: an endless stream of full batches. Epoch e visits the
//     examples in the order of a permutation seeded by (seed, e) when shuffling, in storage
//     order otherwise; the examples left over after the last full batch of an epoch are
//     skipped in that epoch. Batch k is therefore a pure function of (seed, k): a run resumed
//     at step k (StartAtBatch(k)) sees exactly the batches an uninterrupted run would.
//   - Infinite(false), the default, for evaluation: exactly one pass, the last partial batch
//     included unless DropRemainder(true).
//
// Create it with NewBatches and configure it with its chainable options before iterating.
// Invalid settings are reported as the first (and only) error of Iter.
type Batches struct {
	name                    string
	src                     Source
	batchSize               int
	shuffle                 bool
	seed                    int64
	infinite, dropRemainder bool
	start                   int64
	validate                func() error // extra checks of the source, run by Validate
}

var _ train.Dataset = (*Batches)(nil)

// NewBatches returns batches of batchSize examples of src, named name (e.g. "era5/train").
func NewBatches(name string, src Source, batchSize int) *Batches {
	return &Batches{name: name, src: src, batchSize: batchSize}
}

// Shuffle makes every epoch visit the examples in the order of a permutation seeded by
// (seed, epoch).
func (b *Batches) Shuffle(seed int64) *Batches {
	b.shuffle, b.seed = true, seed
	return b
}

// Infinite selects an endless stream of full batches (training) instead of one pass.
func (b *Batches) Infinite(infinite bool) *Batches {
	b.infinite = infinite
	return b
}

// DropRemainder leaves out the last partial batch of a single pass. Infinite streams always
// leave it out, so that every batch has the same shape.
func (b *Batches) DropRemainder(drop bool) *Batches {
	b.dropRemainder = drop
	return b
}

// StartAtBatch makes Iter start at batch k of the stream (counted from 0 across epochs): to
// resume training at global step k, pass k.
func (b *Batches) StartAtBatch(k int64) *Batches {
	b.start = k
	return b
}

// Name implements train.Dataset.
func (b *Batches) Name() string { return b.name }

// BatchesPerEpoch is the number of batches in one pass over the examples.
func (b *Batches) BatchesPerEpoch() int {
	if b.batchSize <= 0 || b.src == nil {
		return 0
	}
	n := b.src.Len()
	if b.infinite || b.dropRemainder {
		return n / b.batchSize
	}
	return (n + b.batchSize - 1) / b.batchSize
}

// Validate reports settings that Iter would reject.
func (b *Batches) Validate() error {
	if b.validate != nil {
		if err := b.validate(); err != nil {
			return err
		}
	}
	switch {
	case b.src == nil || b.src.Len() <= 0:
		return fmt.Errorf("datasets: %s: no examples", b.name)
	case b.batchSize <= 0:
		return fmt.Errorf("datasets: %s: batch size must be positive, got %d", b.name, b.batchSize)
	case b.BatchesPerEpoch() == 0:
		return fmt.Errorf("datasets: %s: batch size %d is larger than the %d examples and the partial batch is dropped",
			b.name, b.batchSize, b.src.Len())
	case b.start < 0:
		return fmt.Errorf("datasets: %s: StartAtBatch must be non-negative, got %d", b.name, b.start)
	}
	return nil
}

// indices returns the example indices of the batch at position pos of an epoch whose order is
// order (nil: storage order).
func (b *Batches) indices(order []int32, pos int) []int {
	lo := pos * b.batchSize
	size := min(b.batchSize, b.src.Len()-lo)
	idx := make([]int, size)
	for i := range idx {
		idx[i] = lo + i
		if order != nil {
			idx[i] = int(order[lo+i])
		}
	}
	return idx
}

// Iter implements train.Dataset. Each call starts afresh at the StartAtBatch position.
func (b *Batches) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		if err := b.Validate(); err != nil {
			yield(train.Batch{}, err)
			return
		}
		perEpoch := int64(b.BatchesPerEpoch())
		var order []int32
		orderEpoch := int64(-1)
		for k := b.start; b.infinite || k < perEpoch; k++ {
			epoch, pos := k/perEpoch, int(k%perEpoch)
			if b.shuffle && epoch != orderEpoch {
				order, orderEpoch = Permutation(b.src.Len(), b.seed, epoch), epoch
			}
			inputs, labels, err := b.src.Batch(b.indices(order, pos))
			if err != nil {
				yield(train.Batch{}, fmt.Errorf("datasets: %s: batch %d: %w", b.name, k, err))
				return
			}
			if !yield(train.Batch{Inputs: inputs, Labels: labels}, nil) {
				return
			}
		}
	}
}

// Permutation returns a permutation of 0..n-1 that depends only on (seed, epoch). It uses its
// own Fisher–Yates shuffle over the PCG generator, whose output is fully specified, so that
// the order does not change with the Go version's shuffling code. Batches orders its epochs
// with it; datasets/speech deals its synthetic sentences with it.
func Permutation(n int, seed, epoch int64) []int32 {
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

// ImageBatches are Batches over grey images held in memory, with their class labels: Inputs
// hold one float32 tensor shaped [B, H, W, 1], Labels one int32 tensor shaped [B].
type ImageBatches = Batches

// Images is a Source of n grey images of height×width pixels stored row-major in Pixels
// (len n·height·width), one byte each (0 to 255, as image files store them), with one class
// label each in Labels (len n). The slices are shared. Batch scales the pixels of the images it
// cuts to [0, 1], so a dataset is held in its bytes: a quarter of the memory of float32 pixels,
// and nothing to convert when it loads.
type Images struct {
	Pixels           []uint8
	Labels           []uint8
	N, Height, Width int
}

// PixelScale maps a pixel byte p to float32(p)/255, its value in [0, 1] in Images' batches.
var PixelScale = func() (table [256]float32) {
	for i := range table {
		table[i] = float32(i) / 255
	}
	return table
}()

// Len implements Source.
func (s *Images) Len() int { return s.N }

// Batch implements Source: images [B, H, W, 1] float32 in [0, 1] ([PixelScale]) and labels
// [B] int32.
func (s *Images) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	pixels := s.Height * s.Width
	imageBuf := make([]float32, len(indices)*pixels)
	labelBuf := make([]int32, len(indices))
	for i, example := range indices {
		if example < 0 || example >= s.N {
			return nil, nil, fmt.Errorf("example %d out of range [0, %d)", example, s.N)
		}
		dst := imageBuf[i*pixels : (i+1)*pixels]
		for j, p := range s.Pixels[example*pixels : (example+1)*pixels] {
			dst[j] = PixelScale[p]
		}
		labelBuf[i] = int32(s.Labels[example])
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(imageBuf, len(indices), s.Height, s.Width, 1)},
		[]*tensors.Tensor{tensors.FromFlatDataAndDimensions(labelBuf, len(indices))}, nil
}

// check reports an Images whose slices disagree with its sizes.
func (s *Images) check(name string) error {
	switch {
	case s.N <= 0 || s.Height <= 0 || s.Width <= 0:
		return fmt.Errorf("datasets: %s: n, height and width must be positive, got %d, %d, %d",
			name, s.N, s.Height, s.Width)
	case len(s.Pixels) != s.N*s.Height*s.Width:
		return fmt.Errorf("datasets: %s: images has %d values, want n·height·width = %d·%d·%d = %d",
			name, len(s.Pixels), s.N, s.Height, s.Width, s.N*s.Height*s.Width)
	case len(s.Labels) != s.N:
		return fmt.Errorf("datasets: %s: labels has %d values, want n = %d", name, len(s.Labels), s.N)
	}
	return nil
}

// NewImageBatches returns batches over n images of height×width byte pixels stored row-major
// in images (len n·height·width) with labels (len n); see [Images]. The slices are shared, not
// copied.
func NewImageBatches(name string, images, labels []uint8, n, height, width, batchSize int) *ImageBatches {
	src := &Images{Pixels: images, Labels: labels, N: n, Height: height, Width: width}
	b := NewBatches(name, src, batchSize)
	b.validate = func() error { return src.check(name) }
	return b
}
