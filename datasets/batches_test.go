package datasets

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// toyImages returns n ≤ 256 images of h×w pixels whose pixels all equal the image's index,
// and labels index mod 10, so a batch reveals which examples it holds.
func toyImages(n, h, w int) ([]uint8, []uint8) {
	images := make([]uint8, n*h*w)
	labels := make([]uint8, n)
	for i := range n {
		for p := range h * w {
			images[i*h*w+p] = uint8(i)
		}
		labels[i] = uint8(i % 10)
	}
	return images, labels
}

// examples returns the example indices held by a batch, checking that images and labels agree.
func examples(t *testing.T, batch train.Batch, h, w int) []int {
	t.Helper()
	images := tensors.MustCopyFlatData[float32](batch.Inputs[0])
	labels := tensors.MustCopyFlatData[int32](batch.Labels[0])
	ids := make([]int, len(labels))
	for i := range ids {
		ids[i] = int(math.Round(float64(images[i*h*w]) * 255))
		if labels[i] != int32(ids[i]%10) {
			t.Fatalf("label %d does not belong to image %d", labels[i], ids[i])
		}
		for _, v := range images[i*h*w : (i+1)*h*w] {
			if v != float32(ids[i])/255 {
				t.Fatalf("image %d mixes pixels of image %v", ids[i], v*255)
			}
		}
	}
	return ids
}

// take collects the example indices of the first count batches (all if count < 0).
func take(t *testing.T, ds *ImageBatches, count, h, w int) [][]int {
	t.Helper()
	var out [][]int
	for batch, err := range ds.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, examples(t, batch, h, w))
		if err := batch.Finalize(); err != nil {
			t.Fatal(err)
		}
		if len(out) == count {
			break
		}
	}
	return out
}

func TestImageBatchesShapes(t *testing.T) {
	images, labels := toyImages(10, 2, 3)
	var shapes []string
	for batch, err := range NewImageBatches("toy", images, labels, 10, 2, 3, 4).Iter() {
		if err != nil {
			t.Fatal(err)
		}
		shapes = append(shapes, batch.Inputs[0].Shape().String()+" "+batch.Labels[0].Shape().String())
	}
	want := []string{"(Float32)[4, 2, 3, 1] (Int32)[4]", "(Float32)[4, 2, 3, 1] (Int32)[4]", "(Float32)[2, 2, 3, 1] (Int32)[2]"}
	if !slices.Equal(shapes, want) {
		t.Errorf("shapes %q, want %q", shapes, want)
	}
}

func TestImageBatchesOnePassCoversAll(t *testing.T) {
	const n, h, w = 23, 2, 2
	images, labels := toyImages(n, h, w)
	for _, shuffle := range []bool{false, true} {
		for _, drop := range []bool{false, true} {
			ds := NewImageBatches("eval", images, labels, n, h, w, 5).DropRemainder(drop)
			if shuffle {
				ds.Shuffle(7)
			}
			batches := take(t, ds, -1, h, w)
			wantBatches, wantCount := 5, n
			if drop {
				wantBatches, wantCount = 4, 20
			}
			seen := map[int]int{}
			for _, b := range batches {
				for _, id := range b {
					seen[id]++
				}
			}
			if len(batches) != wantBatches || len(seen) != wantCount {
				t.Errorf("shuffle=%v drop=%v: %d batches with %d distinct examples, want %d and %d",
					shuffle, drop, len(batches), len(seen), wantBatches, wantCount)
			}
			for id, c := range seen {
				if c != 1 {
					t.Errorf("shuffle=%v drop=%v: example %d seen %d times", shuffle, drop, id, c)
				}
			}
			if !shuffle && !slices.Equal(batches[0], []int{0, 1, 2, 3, 4}) {
				t.Errorf("unshuffled first batch %v, want examples 0..4", batches[0])
			}
		}
	}
}

func TestImageBatchesDeterministicResume(t *testing.T) {
	const n, h, w, batchSize = 10, 1, 2, 3 // 3 batches per epoch, example left over each epoch.
	images, labels := toyImages(n, h, w)
	stream := func(seed int64) *ImageBatches {
		return NewImageBatches("train", images, labels, n, h, w, batchSize).Shuffle(seed).Infinite(true)
	}
	const count = 8 // Spans three epochs.
	fresh := take(t, stream(42), count, h, w)
	if again := take(t, stream(42), count, h, w); !slices.EqualFunc(fresh, again, slices.Equal) {
		t.Fatalf("same seed gave different streams:\n%v\n%v", fresh, again)
	}
	if other := take(t, stream(43), count, h, w); slices.EqualFunc(fresh, other, slices.Equal) {
		t.Errorf("seeds 42 and 43 gave the same stream %v", fresh)
	}
	for k := range count {
		resumed := take(t, stream(42).StartAtBatch(int64(k)), count-k, h, w)
		if !slices.EqualFunc(resumed, fresh[k:], slices.Equal) {
			t.Errorf("StartAtBatch(%d) gave %v, want %v", k, resumed, fresh[k:])
		}
	}
	// Within an epoch no example repeats, and consecutive epochs are ordered differently.
	epoch0, epoch1 := slices.Concat(fresh[0:3]...), slices.Concat(fresh[3:6]...)
	for _, epoch := range [][]int{epoch0, epoch1} {
		sorted := slices.Clone(epoch)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(epoch) {
			t.Errorf("epoch %v repeats an example", epoch)
		}
	}
	if slices.Equal(epoch0, epoch1) {
		t.Errorf("epochs 0 and 1 have the same order %v", epoch0)
	}
}

func TestImageBatchesErrors(t *testing.T) {
	images, labels := toyImages(4, 2, 2)
	tests := []struct {
		name string
		ds   *ImageBatches
		want string
	}{
		{"images length", NewImageBatches("d", images[:15], labels, 4, 2, 2, 2), "images has 15 values, want"},
		{"labels length", NewImageBatches("d", images, labels[:3], 4, 2, 2, 2), "labels has 3 values, want n = 4"},
		{"batch size", NewImageBatches("d", images, labels, 4, 2, 2, 0), "batch size must be positive"},
		{"empty infinite", NewImageBatches("d", images, labels, 4, 2, 2, 5).Infinite(true), "batch size 5 is larger than the 4 examples"},
		{"negative start", NewImageBatches("d", images, labels, 4, 2, 2, 2).StartAtBatch(-1), "StartAtBatch must be non-negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []error
			for batch, err := range tt.ds.Iter() {
				if err == nil {
					batch.Finalize()
				}
				errs = append(errs, err)
			}
			if len(errs) != 1 || errs[0] == nil || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("got %v, want one error containing %q", errs, tt.want)
			}
		})
	}
}

// Batches hold each byte pixel p as float32(p)/255, exactly the float32 pixels the sets were
// converted to when they loaded before they were held in bytes.
func TestImageBatchesScalePixels(t *testing.T) {
	images := make([]uint8, 256)
	for p := range images {
		images[p] = uint8(p)
	}
	for batch, err := range NewImageBatches("all bytes", images, []uint8{7}, 1, 16, 16, 1).Iter() {
		if err != nil {
			t.Fatal(err)
		}
		for p, v := range tensors.MustCopyFlatData[float32](batch.Inputs[0]) {
			if want := float32(p) / 255; v != want {
				t.Errorf("pixel byte %d: %v, want %v", p, v, want)
			}
		}
		batch.Finalize()
	}
}

func ExampleImageBatches() {
	const n, height, width = 5, 28, 28
	images := make([]uint8, n*height*width)
	labels := []uint8{3, 1, 4, 1, 5}
	eval := NewImageBatches("eval", images, labels, n, height, width, 2)
	for batch, err := range eval.Iter() {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(batch.Inputs[0].Shape(), batch.Labels[0].Shape(), tensors.MustCopyFlatData[int32](batch.Labels[0]))
		batch.Finalize()
	}
	// Output:
	// (Float32)[2, 28, 28, 1] (Int32)[2] [3 1]
	// (Float32)[2, 28, 28, 1] (Int32)[2] [4 1]
	// (Float32)[1, 28, 28, 1] (Int32)[1] [5]
}
