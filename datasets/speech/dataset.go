package speech

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/framework"
)

// Modes of the dataset (speech_mode).
const (
	ModeTokenizer  = "tokenizer"  // fixed-length crops [B, S], no labels
	ModeRecognizer = "recognizer" // whole transcribed utterances with phoneme labels (CTC)
)

// cropReplicas is how many differently placed crops the training stream takes per crop-length
// window of training audio in one epoch of datasets.Batches (so an epoch covers the audio
// about cropReplicas times over, each time at other positions).
const cropReplicas = 16

// Dataset is the loaded corpus in one mode: the framework's Data.Source.
type Dataset struct {
	Manifest *Manifest
	Mode     string
	// CropSamples is the length of a tokenizer crop; MaxSamples and MaxLabels the padded
	// lengths of recognizer examples.
	CropSamples, MaxSamples, MaxLabels int
	// Splits holds, per split, the indices into Manifest.Utterances that the mode uses, in
	// manifest order (recognizer: transcribed, at most MaxSamples long, at most MaxLabels
	// phonemes).
	Splits map[string][]int
	// Audio holds the 16 kHz samples of every utterance of Splits.
	Audio map[int][]float32
	// Dropped counts, per split, the utterances the options leave out (narrowband when
	// excluded; recognizer: untranscribed or too long).
	Dropped map[string]int
}

// Options select and shape the examples of a Dataset (the dataset's hyperparameters).
type Options struct {
	Mode string // ModeTokenizer or ModeRecognizer
	// CropSeconds is the tokenizer's crop length; MaxSeconds and MaxLabels bound and pad the
	// recognizer's utterances.
	CropSeconds, MaxSeconds float64
	MaxLabels               int
	// NoNarrowband leaves out the clips recorded at 8 kHz or less, in every split.
	NoNarrowband bool
}

// NewDataset selects the utterances of opts.Mode from m and loads their audio at 16 kHz (two
// clips at a time; through LoadCached when m has a cache directory).
func NewDataset(m *Manifest, opts Options) (*Dataset, error) {
	mode := opts.Mode
	d := &Dataset{Manifest: m, Mode: mode, CropSamples: int(math.Round(opts.CropSeconds * Rate)),
		MaxSamples: int(math.Round(opts.MaxSeconds * Rate)), MaxLabels: opts.MaxLabels,
		Splits: map[string][]int{}, Audio: map[int][]float32{}, Dropped: map[string]int{}}
	if mode != ModeTokenizer && mode != ModeRecognizer {
		return nil, fmt.Errorf("speech: %s must be %q or %q, got %q", ParamMode, ModeTokenizer, ModeRecognizer, mode)
	}
	if d.CropSamples < 1 || d.MaxSamples < 1 || d.MaxLabels < 1 {
		return nil, fmt.Errorf("speech: crop of %d samples, utterances of %d samples, %d labels: each must be positive",
			d.CropSamples, d.MaxSamples, d.MaxLabels)
	}
	var all []int
	for i := range m.Utterances {
		u := &m.Utterances[i]
		if opts.NoNarrowband && u.Narrowband || mode == ModeRecognizer && (len(u.Phonemes) == 0 ||
			len(u.Phonemes) > d.MaxLabels || int(math.Ceil(u.Seconds*Rate)) > d.MaxSamples) {
			d.Dropped[u.Split]++
			continue
		}
		d.Splits[u.Split] = append(d.Splits[u.Split], i)
		all = append(all, i)
	}
	audio := make([][]float32, len(all))
	errs := make([]error, len(all))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for k := range next {
				if m.CacheDir != "" {
					audio[k], errs[k] = LoadCached(&m.Utterances[all[k]], m.CacheDir)
				} else {
					audio[k], errs[k] = Load(&m.Utterances[all[k]])
				}
			}
		})
	}
	for k := range all {
		next <- k
	}
	close(next)
	wg.Wait()
	for k, i := range all {
		if errs[k] != nil {
			return nil, errs[k]
		}
		x := audio[k]
		if mode == ModeRecognizer && len(x) > d.MaxSamples { // rounding of Seconds: trim the last sample
			x = x[:d.MaxSamples]
		}
		d.Audio[i] = x
	}
	return d, nil
}

// clips returns the audio of a split, in order.
func (d *Dataset) clips(split string) [][]float32 {
	var out [][]float32
	for _, i := range d.Splits[split] {
		out = append(out, d.Audio[i])
	}
	return out
}

// Crops is the tokenizer's training source: example i is a crop of CropSamples samples at a
// random position of a training clip, a pure function of (seed, i). The examples are
// cropReplicas copies of every crop-length window of the clips (so a clip is drawn in
// proportion to its length); copy r of window w of clip c starts at a uniform position of
// the clip drawn from PCG(seed, i). A clip shorter than a crop is zero-padded at the end.
// Inputs: one float32 tensor [B, CropSamples]; no labels.
type Crops struct {
	Clips [][]float32
	Crop  int
	Seed  int64
	cum   []int // cum[c] = windows of clips before c
}

// NewCrops returns the crops of clips (see Crops).
func NewCrops(clips [][]float32, crop int, seed int64) *Crops {
	c := &Crops{Clips: clips, Crop: crop, Seed: seed, cum: make([]int, len(clips)+1)}
	for i, x := range clips {
		c.cum[i+1] = c.cum[i] + max(1, (len(x)+crop-1)/crop)
	}
	return c
}

// Len implements datasets.Source.
func (c *Crops) Len() int { return c.cum[len(c.Clips)] * cropReplicas }

// Offset returns the clip and the start sample of example i.
func (c *Crops) Offset(i int) (clip, start int) {
	w := i % c.cum[len(c.Clips)]
	clip = sort.SearchInts(c.cum, w+1) - 1
	if room := len(c.Clips[clip]) - c.Crop; room > 0 {
		// Multiply-high of PCG's output, as datasets.permutation: fully specified, so the crops do
		// not change with the Go version's rand code.
		start64, _ := bits.Mul64(rand.NewPCG(uint64(c.Seed), uint64(i)).Uint64(), uint64(room+1))
		start = int(start64)
	}
	return clip, start
}

// Batch implements datasets.Source: crops [len(indices), Crop].
func (c *Crops) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	buf := make([]float32, len(indices)*c.Crop)
	for b, i := range indices {
		if i < 0 || i >= c.Len() {
			return nil, nil, fmt.Errorf("speech: crop %d out of [0, %d)", i, c.Len())
		}
		clip, start := c.Offset(i)
		copy(buf[b*c.Crop:(b+1)*c.Crop], c.Clips[clip][start:])
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(buf, len(indices), c.Crop)}, nil, nil
}

// Windows is the tokenizer's evaluation source: every clip cut, in order, into consecutive
// windows of Crop samples, the last one of each clip zero-padded. Inputs [B, Crop] float32.
type Windows struct {
	Clips [][]float32
	Crop  int
	cum   []int
}

// NewWindows returns the windows of clips (see Windows).
func NewWindows(clips [][]float32, crop int) *Windows {
	w := &Windows{Clips: clips, Crop: crop, cum: make([]int, len(clips)+1)}
	for i, x := range clips {
		w.cum[i+1] = w.cum[i] + max(1, (len(x)+crop-1)/crop)
	}
	return w
}

// Len implements datasets.Source.
func (w *Windows) Len() int { return w.cum[len(w.Clips)] }

// Batch implements datasets.Source: windows [len(indices), Crop].
func (w *Windows) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	buf := make([]float32, len(indices)*w.Crop)
	for b, i := range indices {
		if i < 0 || i >= w.Len() {
			return nil, nil, fmt.Errorf("speech: window %d out of [0, %d)", i, w.Len())
		}
		clip := sort.SearchInts(w.cum, i+1) - 1
		start := (i - w.cum[clip]) * w.Crop
		copy(buf[b*w.Crop:(b+1)*w.Crop], w.Clips[clip][start:min(start+w.Crop, len(w.Clips[clip]))])
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(buf, len(indices), w.Crop)}, nil, nil
}

// Utterances is the recognizer's source: whole utterances with their phoneme labels, padded.
//
//	inputs: audio     [B, MaxSamples] float32, zero after each clip's end
//	        audio_len [B] int32, the samples of each clip
//	labels: labels    [B, MaxLabels] int32, phoneme ids (PhonemeID, 1..39) then Blank (0)
//	        label_len [B] int32, the phonemes of each clip
type Utterances struct {
	Clips                 [][]float32
	Labels                [][]int32
	MaxSamples, MaxLabels int
}

// Len implements datasets.Source.
func (s *Utterances) Len() int { return len(s.Clips) }

// Batch implements datasets.Source (see Utterances for the layout).
func (s *Utterances) Batch(indices []int) (inputs, labels []*tensors.Tensor, err error) {
	n := len(indices)
	audio, audioLen := make([]float32, n*s.MaxSamples), make([]int32, n)
	lab, labLen := make([]int32, n*s.MaxLabels), make([]int32, n)
	for b, i := range indices {
		if i < 0 || i >= s.Len() {
			return nil, nil, fmt.Errorf("speech: utterance %d out of [0, %d)", i, s.Len())
		}
		audioLen[b] = int32(copy(audio[b*s.MaxSamples:(b+1)*s.MaxSamples], s.Clips[i]))
		labLen[b] = int32(copy(lab[b*s.MaxLabels:(b+1)*s.MaxLabels], s.Labels[i]))
	}
	return []*tensors.Tensor{tensors.FromFlatDataAndDimensions(audio, n, s.MaxSamples), tensors.FromFlatDataAndDimensions(audioLen, n)},
		[]*tensors.Tensor{tensors.FromFlatDataAndDimensions(lab, n, s.MaxLabels), tensors.FromFlatDataAndDimensions(labLen, n)}, nil
}

// LabelIDs returns the label ids of phonemes (PhonemeID), or an error naming a phoneme
// outside Inventory.
func LabelIDs(phonemes []string) ([]int32, error) {
	out := make([]int32, len(phonemes))
	for i, p := range phonemes {
		id, ok := PhonemeID[p]
		if !ok {
			return nil, fmt.Errorf("speech: phoneme %q is not in the inventory", p)
		}
		out[i] = int32(id)
	}
	return out, nil
}

// utterances returns the recognizer source of a split.
func (d *Dataset) utterances(split string) (*Utterances, error) {
	s := &Utterances{MaxSamples: d.MaxSamples, MaxLabels: d.MaxLabels}
	for _, i := range d.Splits[split] {
		ids, err := LabelIDs(d.Manifest.Utterances[i].Phonemes)
		if err != nil {
			return nil, fmt.Errorf("speech: %s: %w", d.Manifest.Utterances[i].ID, err)
		}
		s.Clips, s.Labels = append(s.Clips, d.Audio[i]), append(s.Labels, ids)
	}
	return s, nil
}

// EvalSplits are the held-out splits, in order: validation and test.
var EvalSplits = []string{framework.SplitValidation, framework.SplitTest}
