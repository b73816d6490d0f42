package era5

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/framework"
)

// Config selects the channels of a Dataset and how its hours are split.
type Config struct {
	// Channels are the channel names, as [netcdf.Channels] names them ("t2m", "q@850").
	Channels []string
	// Window is the number of consecutive hours per example.
	Window int
	// ValidationHours and TestHours are held out at the end of the time axis: the test hours
	// last, the validation hours just before them. 0 leaves the split out.
	ValidationHours, TestHours int
}

// Dataset is ERA5 fields split by time into train, validation and test hours and cut into
// windows of consecutive hours. It is the framework's Data.Source for the "era5" dataset.
type Dataset struct {
	// Files are the files read (metadata only: their variables' Data is dropped); File is
	// the first, usually the only one.
	Files []*netcdf.File
	File  *netcdf.File
	// Channels names the C channels of the batches, in order; Units gives each one's units
	// (the variable's "units" attribute).
	Channels, Units []string
	// Mean and Std are each channel's mean and (population) standard deviation over every
	// grid point of the training hours only, in physical units. Batches are not normalised:
	// models normalise with these.
	Mean, Std []float64
	// Lat and Lon are the grid's coordinates in degrees (H and W values).
	Lat, Lon []float64
	// Window is the number of hours per example.
	Window int
	// TrainHours, ValidationHours and TestHours are the splits as [start, end) indices of
	// the time axis; they do not overlap and cover it in this order.
	TrainHours, ValidationHours, TestHours [2]int
	// SourceBytesPerValue is what the source files spend per value: their size on disk
	// divided by the number of values stored in the variables the channels come from (all
	// levels of a variable with levels).
	SourceBytesPerValue float64

	fields [][]float32 // per channel, [T·H·W]
}

// Load reads the channels of cfg from the netCDF files (names relative to dataDir, found by
// framework.LocateData; fields on the same time, latitude and longitude coordinates) and
// splits them; see [NewDataset].
func Load(dataDir string, files []string, cfg Config) (*Dataset, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("era5: no file given")
	}
	var read []*netcdf.File
	for _, name := range files {
		path, err := framework.LocateData(dataDir, name)
		if err != nil {
			return nil, fmt.Errorf("era5: %w", err)
		}
		f, err := netcdf.Read(path, netcdf.ReadOptions{})
		if err != nil {
			return nil, err
		}
		read = append(read, f)
	}
	return NewDataset(read, cfg)
}

// NewDataset takes cfg's channels from files (which must share their time, latitude and
// longitude coordinates), splits the hours and computes the training statistics. It keeps
// the channels' values and drops the files' variables' Data.
func NewDataset(files []*netcdf.File, cfg Config) (*Dataset, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("era5: no file given")
	}
	if len(cfg.Channels) == 0 {
		return nil, fmt.Errorf("era5: no channel asked for")
	}
	if cfg.Window < 1 || cfg.ValidationHours < 0 || cfg.TestHours < 0 {
		return nil, fmt.Errorf("era5: window %d must be ≥ 1, validation hours %d and test hours %d ≥ 0",
			cfg.Window, cfg.ValidationHours, cfg.TestHours)
	}
	first := files[0]
	type channel struct {
		file  *netcdf.File
		units string
		data  []float32
		vr    *netcdf.Variable
	}
	available := map[string]channel{}
	var names []string
	for _, f := range files {
		if err := netcdf.SameGrid(first, f); err != nil {
			return nil, err
		}
		if err := f.Check(); err != nil {
			return nil, fmt.Errorf("era5: %s: %w (a File passed to NewDataset has its Data dropped and cannot be reused)", f.Path, err)
		}
		for _, v := range f.Vars {
			chNames, chData := netcdf.Channels(&netcdf.File{Level: f.Level, Vars: []*netcdf.Variable{v}})
			for i, name := range chNames {
				if prev, dup := available[name]; dup {
					return nil, fmt.Errorf("era5: channel %s is in both %s and %s", name, prev.file.Path, f.Path)
				}
				available[name] = channel{file: f, units: v.Units(), data: chData[i], vr: v}
				names = append(names, name)
			}
		}
	}
	d := &Dataset{Files: files, File: first, Window: cfg.Window,
		Lat: first.Lat.Values, Lon: first.Lon.Values}
	usedVars := map[*netcdf.Variable]bool{}
	usedFiles := map[*netcdf.File]bool{}
	var storedValues, sourceBytes float64
	for _, name := range cfg.Channels {
		ch, ok := available[name]
		if !ok {
			return nil, fmt.Errorf("era5: no channel %q in %s; channels present: %s", name, filePaths(files), strings.Join(names, ", "))
		}
		if slices.Contains(d.Channels, name) {
			return nil, fmt.Errorf("era5: channel %s asked for twice", name)
		}
		d.Channels = append(d.Channels, name)
		d.Units = append(d.Units, ch.units)
		d.fields = append(d.fields, ch.data)
		if !usedVars[ch.vr] {
			if err := (&netcdf.File{Path: ch.file.Path, Vars: []*netcdf.Variable{ch.vr}}).Complete(); err != nil {
				return nil, fmt.Errorf("era5: %w; training needs complete fields", err)
			}
			usedVars[ch.vr] = true
			storedValues += float64(len(ch.vr.Data)) // All levels of a variable with levels.
		}
		if !usedFiles[ch.file] {
			usedFiles[ch.file] = true
			sourceBytes += float64(ch.file.SourceBytes)
		}
	}
	d.SourceBytesPerValue = sourceBytes / storedValues
	for _, f := range files {
		for _, v := range f.Vars {
			v.Data = nil
		}
	}

	hours := first.Hours()
	trainEnd := hours - cfg.ValidationHours - cfg.TestHours
	d.TrainHours = [2]int{0, max(0, trainEnd)}
	d.ValidationHours = [2]int{trainEnd, trainEnd + cfg.ValidationHours}
	d.TestHours = [2]int{hours - cfg.TestHours, hours}
	switch {
	case trainEnd < cfg.Window:
		return nil, fmt.Errorf("era5: %s has %d hours: after %d validation and %d test hours, %d are left for training, fewer than one window of %d",
			filePaths(files), hours, cfg.ValidationHours, cfg.TestHours, trainEnd, cfg.Window)
	case cfg.ValidationHours > 0 && cfg.ValidationHours < cfg.Window:
		return nil, fmt.Errorf("era5: %d validation hours hold no window of %d hours", cfg.ValidationHours, cfg.Window)
	case cfg.TestHours > 0 && cfg.TestHours < cfg.Window:
		return nil, fmt.Errorf("era5: %d test hours hold no window of %d hours", cfg.TestHours, cfg.Window)
	}
	hw := first.GridSize()
	for _, field := range d.fields {
		mean, std := meanStd(field[:trainEnd*hw])
		d.Mean = append(d.Mean, mean)
		d.Std = append(d.Std, std)
	}
	return d, nil
}

func filePaths(files []*netcdf.File) string {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	return strings.Join(paths, ", ")
}

// meanStd returns the mean and population standard deviation of x, in two passes.
func meanStd(x []float32) (mean, std float64) {
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		dv := float64(v) - mean
		ss += dv * dv
	}
	return mean, math.Sqrt(ss / float64(len(x)))
}

// SplitHours returns the [start, end) hours of split (indices of the time axis), or an error
// naming the splits present.
func (d *Dataset) SplitHours(split string) ([2]int, error) {
	var r [2]int
	switch split {
	case framework.SplitTrain:
		r = d.TrainHours
	case framework.SplitValidation:
		r = d.ValidationHours
	case framework.SplitTest:
		r = d.TestHours
	default:
		return r, fmt.Errorf("era5: no split %q; the splits are %s, %s and %s",
			split, framework.SplitTrain, framework.SplitValidation, framework.SplitTest)
	}
	if r[1] <= r[0] {
		return r, fmt.Errorf("era5: split %s is empty (its hours are set to 0)", split)
	}
	return r, nil
}

// SplitFields returns the whole split's fields in physical units: data[c] holds channel c
// over the split's hours, [hours·H·W] (time-major, then latitude, then longitude). The
// slices share the dataset's memory: do not modify them.
func (d *Dataset) SplitFields(split string) (data [][]float32, hours int, err error) {
	r, err := d.SplitHours(split)
	if err != nil {
		return nil, 0, err
	}
	hw := len(d.Lat) * len(d.Lon)
	for _, field := range d.fields {
		data = append(data, field[r[0]*hw:r[1]*hw])
	}
	return data, r[1] - r[0], nil
}

// Windows returns the examples of split: for "train", every window of Window consecutive
// hours inside the training hours (overlapping, one per start hour); for "validation" and
// "test", non-overlapping windows in time order, the hours that do not fill a last window
// being left out.
func (d *Dataset) Windows(split string) (*Windows, error) {
	r, err := d.SplitHours(split)
	if err != nil {
		return nil, err
	}
	w := &Windows{d: d}
	step := d.Window
	if split == framework.SplitTrain {
		step = 1
	}
	for s := r[0]; s+d.Window <= r[1]; s += step {
		w.Starts = append(w.Starts, s)
	}
	return w, nil
}

// Windows is a datasets.Source of windows of consecutive hours.
type Windows struct {
	// Starts holds each example's first hour (an index of the time axis).
	Starts []int
	d      *Dataset
}

// Len implements datasets.Source.
func (w *Windows) Len() int { return len(w.Starts) }

// Batch implements datasets.Source: the inputs are one float32 tensor [B, Window, C, H, W]
// of fields in physical units (channel c in Dataset.Units[c]); there are no labels.
func (w *Windows) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	d := w.d
	hw := len(d.Lat) * len(d.Lon)
	c := len(d.fields)
	buf := make([]float32, len(indices)*d.Window*c*hw)
	pos := 0
	for _, i := range indices {
		if i < 0 || i >= len(w.Starts) {
			return nil, nil, fmt.Errorf("era5: window %d out of [0, %d)", i, len(w.Starts))
		}
		for t := w.Starts[i]; t < w.Starts[i]+d.Window; t++ {
			for _, field := range d.fields {
				pos += copy(buf[pos:], field[t*hw:(t+1)*hw])
			}
		}
	}
	x := tensors.FromFlatDataAndDimensions(buf, len(indices), d.Window, c, len(d.Lat), len(d.Lon))
	return []*tensors.Tensor{x}, nil, nil
}

// FrameworkData returns the dataset for the framework's loop: the training windows shuffled
// by seed, batch k a pure function of (seed, k), and single in-order passes over the
// validation and test windows. Data.Source is d.
func (d *Dataset) FrameworkData() *framework.Data {
	var splits []string
	for _, s := range []string{framework.SplitValidation, framework.SplitTest} {
		if w, err := d.Windows(s); err == nil && w.Len() > 0 {
			splits = append(splits, s)
		}
	}
	return &framework.Data{
		TrainBatches: func(batchSize int, seed int64, start int64) train.Dataset {
			w, _ := d.Windows(framework.SplitTrain) // NewDataset checked that it holds a window.
			return datasets.NewBatches(DatasetName+"/train", w, batchSize).Shuffle(seed).Infinite(true).StartAtBatch(start)
		},
		EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
			w, err := d.Windows(split)
			if err != nil {
				return nil, err
			}
			return datasets.NewBatches(DatasetName+"/"+split, w, batchSize), nil
		},
		EvalSplits: splits,
		Source:     d,
	}
}
