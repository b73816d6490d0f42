package era5

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/framework"
)

// batches returns the first n batches of ds.
func batches(t *testing.T, ds train.Dataset, n int) []*tensors.Tensor {
	t.Helper()
	var out []*tensors.Tensor
	for b, err := range ds.Iter() {
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Inputs) != 1 || b.Labels != nil {
			t.Fatalf("batch with %d inputs and labels %v, want one input and no labels", len(b.Inputs), b.Labels)
		}
		out = append(out, b.Inputs[0])
		if len(out) == n {
			break
		}
	}
	return out
}

func flat(t *tensors.Tensor) []float32 { return tensors.MustCopyFlatData[float32](t) }

// TestDatasetUK loads the registered dataset with its defaults on the UK file.
func TestDatasetUK(t *testing.T) {
	data, err := framework.LoadDataset(DatasetName, datadir.Dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := data.Source.(*Dataset)
	if !ok {
		t.Fatalf("Source is %T, want *era5.Dataset", data.Source)
	}
	if !slices.Equal(data.EvalSplits, []string{"validation", "test"}) || !slices.Equal(d.Channels, []string{"t2m"}) ||
		!slices.Equal(d.Units, []string{"K"}) || d.Window != 4 || len(d.Lat) != 33 || len(d.Lon) != 49 {
		t.Fatalf("splits %v, channels %v %v, window %d, grid %d×%d", data.EvalSplits, d.Channels, d.Units, d.Window, len(d.Lat), len(d.Lon))
	}
	// 744 hours: the last 168 for test, the 72 before for validation, the first 504 to train.
	if d.TrainHours != [2]int{0, 504} || d.ValidationHours != [2]int{504, 576} || d.TestHours != [2]int{576, 744} {
		t.Errorf("splits %v %v %v", d.TrainHours, d.ValidationHours, d.TestHours)
	}
	if want := 2410272.0 / (744 * 33 * 49); math.Abs(d.SourceBytesPerValue-want) > 1e-12 {
		t.Errorf("SourceBytesPerValue %v, want %v", d.SourceBytesPerValue, want)
	}

	// Statistics of the training hours only, computed here directly from a fresh Read (and,
	// for the record, by numpy: mean 280.60957, std 2.31942 over the first 504 hours).
	uk, err := netcdf.Read(datadir.File(t, "era5/era5-2mt-2019-03-uk.nc"), netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := uk.Vars[0].Data
	trainMean, trainStd := meanStd(all[:504*33*49])
	allMean, _ := meanStd(all)
	if math.Abs(d.Mean[0]-trainMean) > 1e-9 || math.Abs(d.Std[0]-trainStd) > 1e-9 ||
		math.Abs(trainMean-280.60957) > 1e-4 || math.Abs(trainStd-2.31942) > 1e-4 {
		t.Errorf("mean %v std %v, want %v %v", d.Mean[0], d.Std[0], trainMean, trainStd)
	}
	if math.Abs(allMean-trainMean) < 1e-3 {
		t.Errorf("the mean over all hours (%v) equals the training mean (%v): the test cannot tell them apart", allMean, trainMean)
	}

	fields, hours, err := d.SplitFields("validation")
	if err != nil || hours != 72 || len(fields) != 1 || len(fields[0]) != 72*33*49 ||
		fields[0][0] != all[504*33*49] || fields[0][len(fields[0])-1] != all[576*33*49-1] {
		t.Errorf("SplitFields(validation): %d hours, %v", hours, err)
	}
	if _, _, err := d.SplitFields("dev"); err == nil || !strings.Contains(err.Error(), "dev") {
		t.Errorf("SplitFields(dev): %v", err)
	}

	// Training: batch k is a pure function of (seed, k); every window lies in the train hours.
	stream := batches(t, data.TrainBatches(8, 7, 0), 6)
	resumed := batches(t, data.TrainBatches(8, 7, 5), 1)
	other := batches(t, data.TrainBatches(8, 8, 0), 1)
	if !slices.Equal(stream[0].Shape().Dimensions, []int{8, 4, 1, 33, 49}) {
		t.Fatalf("batch shape %v, want [8 4 1 33 49]", stream[0].Shape())
	}
	if !slices.Equal(flat(stream[5]), flat(resumed[0])) {
		t.Error("batch 5 of a stream resumed at 5 differs from batch 5 of the stream from 0")
	}
	if slices.Equal(flat(stream[0]), flat(other[0])) {
		t.Error("seeds 7 and 8 give the same first batch")
	}
	hw := 33 * 49
	for _, b := range stream {
		x := flat(b)
		for e := range 8 {
			window := x[e*4*hw : (e+1)*4*hw]
			start := -1
			for s := 0; s+4 <= 744; s++ {
				if slices.Equal(window, all[s*hw:(s+4)*hw]) {
					start = s
					break
				}
			}
			if start < 0 || start+4 > 504 {
				t.Fatalf("a training window starts at hour %d, want a window inside the 504 training hours", start)
			}
		}
	}

	// Evaluation: non-overlapping windows in time order: 72/4 = 18 validation windows.
	val, err := data.EvalBatches("validation", 5)
	if err != nil {
		t.Fatal(err)
	}
	vb := batches(t, val, 100)
	if len(vb) != 4 || vb[3].Shape().Dimensions[0] != 3 {
		t.Fatalf("%d validation batches, last of %v", len(vb), vb[len(vb)-1].Shape())
	}
	var got []float32
	for _, b := range vb {
		got = append(got, flat(b)...)
	}
	if !slices.Equal(got, all[504*hw:576*hw]) {
		t.Error("the validation windows are not the validation hours in order")
	}
	if _, err := data.EvalBatches("train2", 5); err == nil {
		t.Error("EvalBatches of an unknown split gave no error")
	}
}

// TestDatasetChannels splits synthetic level and surface variables from two files into
// channels and checks the layout of a batch, [B, window, C, H, W], value by value.
func TestDatasetChannels(t *testing.T) {
	levels := netcdf.Synthetic(30, 3, 2, 3, "q", "u") // Levels 500, 550, 600.
	surface := netcdf.Synthetic(30, 0, 2, 3, "sp")
	levels.SourceBytes, surface.SourceBytes = 1000, 500
	d, err := NewDataset([]*netcdf.File{levels, surface}, Config{Channels: []string{"u@550", "sp", "q@600"}, Window: 3,
		ValidationHours: 6, TestHours: 7})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Units, []string{"uu", "usp", "uq"}) || d.TrainHours != [2]int{0, 17} ||
		d.ValidationHours != [2]int{17, 23} || d.TestHours != [2]int{23, 30} {
		t.Fatalf("units %v, splits %v %v %v", d.Units, d.TrainHours, d.ValidationHours, d.TestHours)
	}
	// syntheticFile's value: 1000·variable + 100·t + 10·level + y + x/10.
	value := func(c, t, y, x int) float32 {
		varIndex, level := []int{1, 0, 0}[c], []int{1, 0, 2}[c]
		return float32(1000*varIndex+100*t+10*level+y) + float32(x)/10
	}
	w, err := d.Windows("test") // Hours 23..29: two windows (23, 26), hour 29 left out.
	if err != nil || !slices.Equal(w.Starts, []int{23, 26}) {
		t.Fatalf("test windows %v, %v", w.Starts, err)
	}
	in, _, err := w.Batch([]int{1, 0})
	if err != nil {
		t.Fatal(err)
	}
	x := flat(in[0])
	if !slices.Equal(in[0].Shape().Dimensions, []int{2, 3, 3, 2, 3}) {
		t.Fatalf("shape %v", in[0].Shape())
	}
	i := 0
	for b, start := range []int{26, 23} {
		for h := range 3 {
			for c := range 3 {
				for y := range 2 {
					for xx := range 3 {
						if want := value(c, start+h, y, xx); x[i] != want {
							t.Fatalf("batch[%d, %d, %d, %d, %d] = %v, want %v", b, h, c, y, xx, x[i], want)
						}
						i++
					}
				}
			}
		}
	}
	// Mean of channel sp over the 17 training hours: 100·mean(t) + mean(y) + mean(x)/10.
	if want := 100*8.0 + 0.5 + 0.1; math.Abs(d.Mean[1]-want) > 1e-4 {
		t.Errorf("mean of sp %v, want %v", d.Mean[1], want)
	}
	// The files' bytes over the values of the variables used, all levels: u and q 30·3·2·3
	// each, sp 30·2·3.
	if want := (1000.0 + 500) / (540 + 540 + 180); math.Abs(d.SourceBytesPerValue-want) > 1e-12 {
		t.Errorf("SourceBytesPerValue %v, want %v", d.SourceBytesPerValue, want)
	}
}

func TestDatasetErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Channels: []string{"t"}, Window: 4, ValidationHours: 11, TestHours: 10}, "3 are left for training, fewer than one window of 4"},
		{Config{Channels: []string{"t"}, Window: 4, ValidationHours: 3, TestHours: 4}, "3 validation hours hold no window of 4"},
		{Config{Channels: []string{"w"}, Window: 4, ValidationHours: 4, TestHours: 4}, `no channel "w" in synthetic; channels present: t`},
		{Config{Channels: []string{"t", "t"}, Window: 4}, "channel t asked for twice"},
		{Config{Channels: []string{"t"}, Window: 0}, "window 0 must be ≥ 1"},
	} {
		_, err := NewDataset([]*netcdf.File{netcdf.Synthetic(24, 0, 2, 2, "t")}, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.cfg, err, c.want)
		}
	}
	a, b := netcdf.Synthetic(24, 0, 2, 2, "t"), netcdf.Synthetic(24, 0, 2, 2, "s")
	b.Lat.Values[0] = 61
	if _, err := NewDataset([]*netcdf.File{a, b}, Config{Channels: []string{"t"}, Window: 1}); err == nil ||
		!strings.Contains(err.Error(), "differ in their time, latitude or longitude") {
		t.Errorf("files on different grids: %v", err)
	}
	// A channel with missing values (NaN, as formats/netcdf returns them) is refused, naming
	// the file, the variable and the first missing value; training needs complete fields.
	holes := netcdf.Synthetic(24, 0, 2, 2, "t", "sst")
	holes.Vars[1].Data[5], holes.Vars[1].Missing = float32(math.NaN()), 1
	if _, err := NewDataset([]*netcdf.File{holes}, Config{Channels: []string{"sst"}, Window: 2}); err == nil ||
		!strings.Contains(err.Error(), "synthetic: variable sst: 1 missing values (first at time 1, latitude 0, longitude 1)") ||
		!strings.Contains(err.Error(), "training needs complete fields") {
		t.Errorf("a channel with missing values: %v", err)
	}
	if _, err := NewDataset([]*netcdf.File{holes}, Config{Channels: []string{"t"}, Window: 2}); err != nil {
		t.Errorf("a complete channel beside one with missing values: %v", err)
	}
	// A dataset with no validation split leaves it out of the evaluation splits.
	d, err := NewDataset([]*netcdf.File{netcdf.Synthetic(24, 0, 2, 2, "t")}, Config{Channels: []string{"t"}, Window: 2, TestHours: 4})
	if err != nil {
		t.Fatal(err)
	}
	if data := d.FrameworkData(); !slices.Equal(data.EvalSplits, []string{"test"}) {
		t.Errorf("eval splits %v, want [test]", data.EvalSplits)
	}
	if _, err := d.Windows("validation"); err == nil || !strings.Contains(err.Error(), "validation is empty") {
		t.Errorf("Windows(validation) without validation hours: %v", err)
	}
}
