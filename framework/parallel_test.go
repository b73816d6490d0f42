package framework

import (
	"bytes"
	"io"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/notimplemented"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// meshBackend stands for a backend of several devices with distributed execution (XLA's), for
// the checks DataParallelDevices makes before anything runs.
type meshBackend struct {
	notimplemented.Backend
	devices int
}

func (b *meshBackend) NumDevices() int                     { return b.devices }
func (b *meshBackend) Builder(name string) compute.Builder { return meshBuilder{} }

type meshBuilder struct{ notimplemented.Builder }

func (meshBuilder) DistributedAutoSharding(...compute.Mesh) error { return nil }

func TestDataParallelDevices(t *testing.T) {
	goB := goBackend(t)
	mesh4 := &meshBackend{devices: 4}
	for _, c := range []struct {
		backend   compute.Backend
		value     string
		batch     int
		want      int
		note, err string
	}{
		{goB, "1", 8, 0, "", ""},
		{goB, "all", 8, 0, "has one device and no distributed execution", ""},
		{goB, "2", 8, 0, "", "does not have: GoMLX implements it on XLA only"},
		{goB, "0", 8, 0, "", "neither"},
		{goB, "two", 8, 0, "", "neither"},
		{mesh4, "1", 6, 0, "", ""},
		{mesh4, "all", 8, 4, "", ""},
		{mesh4, "2", 6, 2, "", ""},
		{mesh4, "all", 6, 0, "", `4 devices do not divide key "batch_size" 6`},
		{mesh4, "8", 16, 0, "", "8 devices asked, backend notimplemented has 4"},
		{&meshBackend{devices: 1}, "all", 3, 1, "", ""}, // one XLA device: still the distributed path
	} {
		n, note, err := DataParallelDevices(c.backend, c.value, c.batch)
		name := c.backend.Name() + " " + c.value
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), ParamDataParallel) {
				t.Errorf("%s: error %v, want one naming %s and saying %q", name, err, ParamDataParallel, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", name, err)
		case n != c.want:
			t.Errorf("%s, batch %d: %d devices, want %d", name, c.batch, n, c.want)
		case !strings.Contains(note, c.note) || (c.note == "") != (note == ""):
			t.Errorf("%s: note %q, want one saying %q", name, note, c.note)
		}
	}
}

func TestSplitBatchCutsRowsInOrder(t *testing.T) {
	x := tensors.FromFlatDataAndDimensions([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 6, 2)
	y := tensors.FromFlatDataAndDimensions([]int32{10, 11, 12, 13, 14, 15}, 6)
	shards, err := splitBatch(train.Batch{Inputs: []*tensors.Tensor{x}, Labels: []*tensors.Tensor{y}, Spec: "s"}, 3, 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	for i, s := range shards {
		gotX := tensors.MustCopyFlatData[float32](s.Inputs[0])
		gotY := tensors.MustCopyFlatData[int32](s.Labels[0])
		wantX := []float32{float32(4 * i), float32(4*i + 1), float32(4*i + 2), float32(4*i + 3)}
		wantY := []int32{int32(10 + 2*i), int32(11 + 2*i)}
		if !slices.Equal(gotX, wantX) || !slices.Equal(gotY, wantY) || s.Spec != "s" {
			t.Errorf("shard %d: inputs %v labels %v spec %v, want %v %v s", i, gotX, gotY, s.Spec, wantX, wantY)
		}
		if dims := s.Inputs[0].Shape().Dimensions; !slices.Equal(dims, []int{2, 2}) {
			t.Errorf("shard %d: input shape %v, want [2 2]", i, dims)
		}
	}
	notBatch := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3}, 3)
	_, err = splitBatch(train.Batch{Inputs: []*tensors.Tensor{x, notBatch}}, 3, 6)
	if err == nil || !strings.Contains(err.Error(), "input 1") || !strings.Contains(err.Error(), "not the batch") {
		t.Errorf("an input without the batch axis: error %v, want one naming input 1", err)
	}
}

func TestRunDataParallelOnOneDeviceBackend(t *testing.T) {
	backend := goBackend(t)
	var out bytes.Buffer
	res, err := Run(testConfig(t, `, "steps": 10, "params": {"data_parallel": "all"}`),
		RunOptions{Dir: t.TempDir(), Backend: backend, Out: &out, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 10 || !strings.Contains(out.String(), "data_parallel=all: backend ") || !strings.Contains(out.String(), "has one device") {
		t.Errorf("step %d, output %q: want 10 steps and the fallback said", res.Step, out.String())
	}
	_, err = Run(testConfig(t, `, "steps": 10, "params": {"data_parallel": "2"}`),
		RunOptions{Dir: t.TempDir(), Backend: backend, Out: io.Discard, Quiet: true})
	if err == nil || !strings.Contains(err.Error(), "XLA only") {
		t.Errorf("data_parallel=2 on the Go backend: error %v, want a refusal naming XLA", err)
	}
}

func TestResumeUnderAnotherDataParallel(t *testing.T) {
	backend := goBackend(t)
	dir := t.TempDir()
	opts := RunOptions{Dir: dir, Backend: backend, Out: io.Discard, Quiet: true}
	if _, err := Run(testConfig(t, `, "steps": 10`), opts); err != nil {
		t.Fatal(err)
	}
	res, err := Run(testConfig(t, `, "steps": 20, "params": {"data_parallel": "all"}`), opts)
	if err != nil {
		t.Fatalf("resuming with data_parallel=all: %v", err)
	}
	if !res.Resumed || res.Step != 20 {
		t.Errorf("resumed %v at step %d, want a resume to 20", res.Resumed, res.Step)
	}
}

// On one device of the Go backend (which places buffers but has no distributed execution), the
// stream fed to the loop under data_parallel yields the source's batches as distributed ones
// of the same logical shape and values.
func TestDataParallelBatchesKeepTheBatches(t *testing.T) {
	backend := goBackend(t)
	data, err := loadSynthetic("", map[string]any{"test_synthetic_eval_batches": 1})
	if err != nil {
		t.Fatal(err)
	}
	source := data.TrainBatches(8, 3, 0)
	ds, err := dataParallelBatches(backend, data.TrainBatches(8, 3, 0), 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	distributedDS, ok := ds.(train.DistributedDataset)
	if !ok {
		t.Fatalf("%T is not a train.DistributedDataset: the loop would not take the distributed step", ds)
	}
	want := 0
	next, stop := iter.Pull2(source.Iter())
	defer stop()
	for batch, err := range distributedDS.DistributedIter() {
		if err != nil {
			t.Fatal(err)
		}
		plain, err, _ := next()
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range batch.Inputs {
			merged, err := d.Merge()
			if err != nil {
				t.Fatal(err)
			}
			if !merged.Shape().Equal(plain.Inputs[i].Shape()) || !slices.Equal(tensors.MustCopyFlatData[float32](merged), tensors.MustCopyFlatData[float32](plain.Inputs[i])) {
				t.Errorf("batch %d input %d: %s differs from the source's %s", want, i, merged.Shape(), plain.Inputs[i].Shape())
			}
		}
		_ = batch.Finalize()
		if want++; want == 3 {
			break
		}
	}
	if want != 3 {
		t.Errorf("the distributed stream yielded %d batches, want 3 (it is endless)", want)
	}
}
