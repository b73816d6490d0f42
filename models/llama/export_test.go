package llama

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
)

// NewGeneratorBuckets is NewGenerator with the cache's length buckets: []int{SeqLen} is the
// step that attends over the whole context, masked, as the generator did before it had buckets.
func NewGeneratorBuckets(backend compute.Backend, store *model.Store, batch int, buckets []int) (*Generator, error) {
	return newGenerator(backend, store, batch, buckets)
}
