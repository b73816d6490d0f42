package speech

import (
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/datadir"
)

// ramp returns n samples 1, 2, ..., n, so that a crop's first sample tells where it starts.
func ramp(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i + 1)
	}
	return x
}

// collect returns the first n batches of a stream, flattened.
func collect(t *testing.T, b *datasets.Batches, n int) [][]float32 {
	t.Helper()
	var out [][]float32
	for batch, err := range b.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tensors.MustCopyFlatData[float32](batch.Inputs[0]))
		if len(out) == n {
			break
		}
	}
	return out
}

func TestCropsAreAPureFunctionOfSeedAndStep(t *testing.T) {
	clips := [][]float32{ramp(5000), ramp(800), ramp(12345)}
	const crop, batch = 1000, 4
	stream := func(seed, start int64) *datasets.Batches {
		return datasets.NewBatches("crops", NewCrops(clips, crop, seed), batch).Shuffle(seed).Infinite(true).StartAtBatch(start)
	}
	full := collect(t, stream(7, 0), 12)
	resumed := collect(t, stream(7, 5), 7)
	for k := range resumed {
		if !slices.Equal(resumed[k], full[5+k]) {
			t.Fatalf("batch %d after resuming at 5 differs from the uninterrupted stream's", 5+k)
		}
	}
	if other := collect(t, stream(8, 0), 1); slices.Equal(other[0], full[0]) {
		t.Error("seeds 7 and 8 gave the same first batch")
	}
	c := NewCrops(clips, crop, 7)
	if c.Len() != (5+1+13)*cropReplicas {
		t.Errorf("Len %d, want %d windows × %d", c.Len(), 5+1+13, cropReplicas)
	}
	for i := range c.Len() {
		clip, start := c.Offset(i)
		if start < 0 || start+crop > max(crop, len(clips[clip])) {
			t.Fatalf("crop %d: clip %d start %d out of range", i, clip, start)
		}
	}
	// The short clip (800 samples) is zero-padded: crop of window 5 (the second clip's only one).
	x, _, err := c.Batch([]int{5})
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](x[0])
	if got[0] != 1 || got[799] != 800 || got[800] != 0 || got[999] != 0 {
		t.Errorf("padded crop: %v ... %v", got[:2], got[798:802])
	}
}

func TestWindowsCoverEachClipInOrder(t *testing.T) {
	w := NewWindows([][]float32{ramp(2500), ramp(1000)}, 1000)
	if w.Len() != 4 {
		t.Fatalf("Len %d, want 3 + 1", w.Len())
	}
	x, _, err := w.Batch([]int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	got := tensors.MustCopyFlatData[float32](x[0])
	if got[0] != 1 || got[1000] != 1001 || got[2000] != 2001 || got[2499] != 2500 || got[2500] != 0 || got[3000] != 1 || got[3999] != 1000 {
		t.Errorf("windows do not tile the clips in order")
	}
	if _, _, err := w.Batch([]int{4}); err == nil {
		t.Error("window 4 of 4 accepted")
	}
}

func TestUtterancesLayout(t *testing.T) {
	s := &Utterances{Clips: [][]float32{ramp(3), ramp(5)}, Labels: [][]int32{{4, 5}, {1, 2, 3}}, MaxSamples: 6, MaxLabels: 4}
	in, lab, err := s.Batch([]int{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(in) != 2 || len(lab) != 2 {
		t.Fatalf("%d inputs, %d labels; want audio, audio_len and labels, label_len", len(in), len(lab))
	}
	if !slices.Equal(in[0].Shape().Dimensions, []int{2, 6}) || !slices.Equal(lab[0].Shape().Dimensions, []int{2, 4}) {
		t.Errorf("shapes %v, %v", in[0].Shape(), lab[0].Shape())
	}
	if got := tensors.MustCopyFlatData[float32](in[0]); !slices.Equal(got, []float32{1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 0, 0}) {
		t.Errorf("audio %v", got)
	}
	if got := tensors.MustCopyFlatData[int32](in[1]); !slices.Equal(got, []int32{5, 3}) {
		t.Errorf("audio_len %v", got)
	}
	if got := tensors.MustCopyFlatData[int32](lab[0]); !slices.Equal(got, []int32{1, 2, 3, Blank, 4, 5, Blank, Blank}) {
		t.Errorf("labels %v", got)
	}
	if got := tensors.MustCopyFlatData[int32](lab[1]); !slices.Equal(got, []int32{3, 2}) {
		t.Errorf("label_len %v", got)
	}
}

func TestRecognizerDataOfTheRealClips(t *testing.T) {
	d, err := NewDataset(realCorpus(t), Options{Mode: ModeRecognizer, CropSeconds: 1, MaxSeconds: 10, MaxLabels: 160})
	if err != nil {
		t.Fatal(err)
	}
	data, err := d.FrameworkData()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(data.EvalSplits, []string{framework.SplitTest}) {
		t.Errorf("eval splits %v: the real clips have transcribed held-out speakers in test only", data.EvalSplits)
	}
	test, err := data.EvalBatches(framework.SplitTest, 4)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for batch, err := range test.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		lens := tensors.MustCopyFlatData[int32](batch.Inputs[1])
		labLens := tensors.MustCopyFlatData[int32](batch.Labels[1])
		for b := range lens {
			if lens[b] <= 0 || lens[b] > 160000 || labLens[b] <= 0 || labLens[b] > 160 {
				t.Errorf("example %d: %d samples, %d labels", n+b, lens[b], labLens[b])
			}
		}
		n += len(lens)
	}
	if n != 14 { // 5 LibriVox, 2 LibriSpeech, 5 cards, goforward, tidigits
		t.Errorf("test split: %d transcribed utterances, want 14", n)
	}
	for batch, err := range data.TrainBatches(8, 1, 0).(*datasets.Batches).Iter() {
		if err != nil {
			t.Fatal(err)
		}
		if dims := batch.Inputs[0].Shape().Dimensions; !slices.Equal(dims, []int{8, 160000}) {
			t.Errorf("train audio %v", dims)
		}
		break
	}
}

func TestTokenizerDataThroughTheFramework(t *testing.T) {
	data, err := framework.LoadDataset(DatasetName, datadir.Dir(t), map[string]any{
		ParamCacheDir: testCacheDir(t), ParamSynthPerVoice: 0, ParamCropSeconds: 0.5, ParamNarrowband: false})
	if err != nil {
		t.Fatal(err)
	}
	// Without synthetic voices and narrowband clips, validation (synthetic voices, 8 kHz Codec2
	// clips) is empty.
	if !slices.Equal(data.EvalSplits, []string{framework.SplitTest}) {
		t.Errorf("eval splits %v, want [test]", data.EvalSplits)
	}
	if _, err := data.EvalBatches(framework.SplitValidation, 4); err == nil {
		t.Error("the empty validation split gave batches")
	}
	first := collect(t, data.TrainBatches(3, 11, 0).(*datasets.Batches), 4)
	resumed := collect(t, data.TrainBatches(3, 11, 3).(*datasets.Batches), 1)
	if len(first[0]) != 3*8000 || !slices.Equal(resumed[0], first[3]) {
		t.Errorf("train crops: %d values per batch, resumed batch 3 equal: %v", len(first[0]), slices.Equal(resumed[0], first[3]))
	}
	d := data.Source.(*Dataset)
	for _, split := range append([]string{framework.SplitTrain}, EvalSplits...) {
		for _, i := range d.Splits[split] {
			if u := d.Manifest.Utterances[i]; u.Narrowband {
				t.Errorf("%s: narrowband clip %s served with %s=false", split, u.ID, ParamNarrowband)
			}
		}
	}
	for _, split := range data.EvalSplits {
		eval, err := data.EvalBatches(split, 16)
		if err != nil {
			t.Fatal(err)
		}
		var windows, want int
		for batch, err := range eval.Iter() {
			if err != nil {
				t.Fatal(err)
			}
			windows += batch.Inputs[0].Shape().Dimensions[0]
		}
		for _, i := range d.Splits[split] {
			want += (len(d.Audio[i]) + 7999) / 8000
		}
		if windows != want || windows == 0 {
			t.Errorf("%s: %d windows of 0.5 s, want %d", split, windows, want)
		}
	}
}
