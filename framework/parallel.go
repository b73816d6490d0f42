package framework

// Data parallelism across the devices of one host: the one train loop ([Run]) shards every
// training batch along its first axis over a mesh of devices and keeps the variables
// replicated, through GoMLX's distributed execution (distributed.AutoSharding, XLA Shardy).
//
// The step is written once, for the whole batch: the graph sees inputs of shape [B, ...]
// sharded B/n per device, the loss is the mean over all B examples, and XLA inserts the
// all-reduce of the gradients. So a run with data_parallel=n takes the same steps on the same
// batches as one on a single device, to float rounding (the order of the sums differs). The
// evaluations, checkpoints, Init and Calibrate run on the first device, as before.

import (
	"fmt"
	"iter"
	"strconv"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/framework/hparams"
)

// ParamDataParallel is the number of devices a run's training steps are spread over.
const ParamDataParallel = "data_parallel"

// DataParallelAll is the value of ParamDataParallel that takes every device of the backend.
const DataParallelAll = "all"

// DataParallelMeshAxis names the mesh axis the batch is sharded along.
const DataParallelMeshAxis = "data"

// RunParams are the framework's own hyperparameters, accepted in every config's params. They
// say where a run computes, not what it computes: a checkpoint resumes under other values
// (checkSameExperiment leaves them out).
var RunParams = hparams.List{
	{Key: ParamDataParallel, Default: "1", Domain: dataParallelDomain,
		Doc: `devices the training steps are spread over, each taking batch_size/n examples with the variables replicated ("all": every device of the backend; XLA only; "1": one device)`},
}

// dataParallelDomain accepts "all" or a whole number ≥ 1, written as a string.
func dataParallelDomain(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("%v is not a string", v)
	}
	if s == DataParallelAll {
		return nil
	}
	if n, err := strconv.Atoi(s); err != nil || n < 1 {
		return fmt.Errorf("%q is neither %q nor a whole number ≥ 1", s, DataParallelAll)
	}
	return nil
}

// isRunParam says whether key is one of RunParams.
func isRunParam(key string) bool {
	_, ok := RunParams.Lookup(key)
	return ok
}

// DataParallelDevices resolves the value of data_parallel (see [RunParams]) against a backend
// and a batch size. It returns how many devices the distributed path uses (0: the plain
// single-device path), and a line for the user when the value was not taken as given: "all"
// on a backend with one device and no distributed execution (GoMLX's Go and ONNX Runtime
// backends) falls back to the single-device path and says so. A count above the backend's
// devices, a count above 1 on a backend without distributed execution, or a batch size the
// count does not divide is an error naming the key.
func DataParallelDevices(backend compute.Backend, value string, batchSize int) (devices int, note string, err error) {
	if err := dataParallelDomain(value); err != nil {
		return 0, "", fmt.Errorf("framework: key params.%s: %w", ParamDataParallel, err)
	}
	if value == "1" {
		return 0, "", nil
	}
	available := backend.NumDevices()
	distributed := supportsAutoSharding(backend, available)
	n := available
	if value != DataParallelAll {
		n, _ = strconv.Atoi(value)
	}
	switch {
	case value == DataParallelAll && !distributed && available == 1:
		return 0, fmt.Sprintf("qzoo: %s=%s: backend %s has one device and no distributed execution (GoMLX's is XLA's); training on that one device",
			ParamDataParallel, value, backend.Name()), nil
	case !distributed:
		return 0, "", fmt.Errorf("framework: key params.%s: %s=%s needs distributed execution, which backend %s (%d device(s)) does not have: GoMLX implements it on XLA only; use %s=1",
			ParamDataParallel, ParamDataParallel, value, backend.Name(), available, ParamDataParallel)
	case n > available:
		return 0, "", fmt.Errorf("framework: key params.%s: %d devices asked, backend %s has %d",
			ParamDataParallel, n, backend.Name(), available)
	case batchSize%n != 0:
		return 0, "", fmt.Errorf(`framework: key params.%s: %d devices do not divide key "batch_size" %d`,
			ParamDataParallel, n, batchSize)
	}
	return n, "", nil
}

// supportsAutoSharding says whether the backend builds computations sharded over a mesh of
// devices devices, by asking a fresh builder (the pure-Go and ONNX Runtime backends refuse).
func supportsAutoSharding(backend compute.Backend, devices int) bool {
	b := backend.Builder("qzoo_data_parallel_probe")
	return b != nil && b.DistributedAutoSharding(compute.Mesh{Name: "probe", AxesSizes: []int{devices}, AxesNames: []string{DataParallelMeshAxis}}) == nil
}

// dataParallelBatches wraps the training stream of batches of batchSize for n devices: every
// batch is cut along its first axis into n shards of batchSize/n rows, which GoMLX's
// accumulator places one per device of a mesh ("data": n) and yields as one distributed batch
// whose logical shape is the original one. The loop (train.Loop) runs the distributed step
// for such a dataset.
func dataParallelBatches(backend compute.Backend, source train.Dataset, n, batchSize int) (train.Dataset, error) {
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{DataParallelMeshAxis})
	if err != nil {
		return nil, fmt.Errorf("framework: %s mesh: %w", ParamDataParallel, err)
	}
	spec, err := distributed.BuildSpec(mesh).S(DataParallelMeshAxis).Done()
	if err != nil {
		return nil, fmt.Errorf("framework: %s sharding: %w", ParamDataParallel, err)
	}
	shards := &batchShards{source: source, n: n, batchSize: batchSize}
	// One spec serves every input and every label (the accumulator repeats the last one).
	specs := []*distributed.ShardingSpec{spec}
	ds, err := dataset.NewDistributedAccumulator(backend, shards, distributed.AutoSharding, specs, specs, nil)
	if err != nil {
		return nil, fmt.Errorf("framework: %s: %w", ParamDataParallel, err)
	}
	return ds, nil
}

// batchShards yields each batch of source as n consecutive batches: shard i holds rows
// [i·b/n, (i+1)·b/n) of every input and label, whose first axis must be the batch.
type batchShards struct {
	source       train.Dataset
	n, batchSize int
}

func (s *batchShards) Name() string { return s.source.Name() }

func (s *batchShards) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for batch, err := range s.source.Iter() {
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			shards, err := splitBatch(batch, s.n, s.batchSize)
			_ = batch.Finalize()
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			for i, shard := range shards {
				if !yield(shard, nil) {
					for _, rest := range shards[i+1:] {
						_ = rest.Finalize()
					}
					return
				}
			}
		}
	}
}

// splitBatch cuts every input and label of batch along its first axis, of size batchSize,
// into n batches of batchSize/n rows each (new tensors; batch is left as it is).
func splitBatch(batch train.Batch, n, batchSize int) ([]train.Batch, error) {
	rows := batchSize / n
	shards := make([]train.Batch, n)
	for i := range shards {
		shards[i].Spec = batch.Spec
	}
	cut := func(ts []*tensors.Tensor, kind string) ([][]*tensors.Tensor, error) {
		out := make([][]*tensors.Tensor, n)
		for j, t := range ts {
			if dims := t.Shape().Dimensions; len(dims) == 0 || dims[0] != batchSize {
				return nil, fmt.Errorf("framework: %s: %s %d has shape %s, whose first axis is not the batch of %d",
					ParamDataParallel, kind, j, t.Shape(), batchSize)
			}
			for i := range n {
				shard, err := sliceRows(t, i*rows, (i+1)*rows)
				if err != nil {
					return nil, err
				}
				out[i] = append(out[i], shard)
			}
		}
		return out, nil
	}
	inputs, err := cut(batch.Inputs, "input")
	if err != nil {
		return nil, err
	}
	labels, err := cut(batch.Labels, "label")
	if err != nil {
		return nil, err
	}
	for i := range shards {
		shards[i].Inputs = inputs[i]
		if len(batch.Labels) > 0 {
			shards[i].Labels = labels[i]
		}
	}
	return shards, nil
}
