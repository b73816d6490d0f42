package speech

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gomlx/gomlx/ml/train"
	"github.com/qzoo/qzoo/datasets"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/hparams"
)

// DatasetName is the name the dataset is registered under with the framework.
const DatasetName = "speech"

// Hyperparameters of the dataset.
const (
	// ParamMode is ModeTokenizer (crops, no labels) or ModeRecognizer (utterances with
	// phoneme labels). Default "tokenizer".
	ParamMode = "speech_mode"
	// ParamCacheDir holds the synthetic clips and the G2P cache. Default "": DefaultCacheDir().
	ParamCacheDir = "speech_cache_dir"
	// ParamSynthPerVoice is the number of sentences each of the 15 synthetic voices reads (0:
	// no synthetic speech). Default 30: 450 clips, about 25 minutes.
	ParamSynthPerVoice = "speech_synth_per_voice"
	// ParamLibriSpeechDir is an optional LibriSpeech directory as published. Default "".
	ParamLibriSpeechDir = "speech_librispeech_dir"
	// ParamCropSeconds is the length of a tokenizer crop in seconds. Default 1.0 (16000 samples).
	ParamCropSeconds = "speech_crop_seconds"
	// ParamMaxSeconds is the padded length of a recognizer example; longer utterances are left
	// out. Default 10.
	ParamMaxSeconds = "speech_max_seconds"
	// ParamMaxLabels is the padded length of a recognizer example's phoneme labels; utterances
	// with more phonemes are left out. Default 160.
	ParamMaxLabels = "speech_max_labels"
	// ParamNarrowband keeps (true) or leaves out (false) the clips recorded at 8 kHz or less
	// (the asterisk prompts, most Codec2 clips), in every split. Default true.
	ParamNarrowband = "speech_narrowband"
)

// Params lists the dataset's hyperparameters.
var Params = hparams.List{
	{Key: ParamMode, Default: ModeTokenizer, Domain: hparams.OneOf(ModeTokenizer, ModeRecognizer),
		Doc: "tokenizer: random crops [B, samples] of training speakers' clips; recognizer: whole transcribed utterances, audio [B,S] + audio_len [B], phoneme labels [B,L] + label_len [B]"},
	{Key: ParamCacheDir, Default: "", Doc: "directory of the synthetic clips and the G2P cache (\"\": $XDG_CACHE_HOME/qzoo/speech or ~/.cache/qzoo/speech)"},
	{Key: ParamSynthPerVoice, Default: 30, Domain: hparams.Range(0, 1000),
		Doc: "sentences read by each of the 15 synthetic voices (espeak-ng, flite, festival); 0: none; 30 ≈ 25 minutes"},
	{Key: ParamLibriSpeechDir, Default: "", Doc: "optional LibriSpeech directory as published (<speaker>/<chapter>/*.flac + *.trans.txt); test-*/dev-* subsets are test/validation"},
	{Key: ParamCropSeconds, Default: 1.0, Domain: hparams.Range(0.01, 60), Doc: "tokenizer crop length in seconds (at 16 kHz)"},
	{Key: ParamMaxSeconds, Default: 10.0, Domain: hparams.Range(0.1, 120), Doc: "recognizer: padded audio length in seconds; longer utterances are left out"},
	{Key: ParamNarrowband, Default: true, Doc: "keep the clips recorded at 8 kHz or less (band-limited to 4 kHz at 16 kHz): the asterisk prompts, most Codec2 clips"},
	{Key: ParamMaxLabels, Default: 160, Domain: hparams.Range(1, 1<<16), Doc: "recognizer: padded phoneme label length; longer transcripts are left out"},
}

func init() {
	framework.RegisterDataset(&framework.Dataset{
		Name: DatasetName,
		Doc: "speech at 16 kHz: real Debian/shared clips and synthetic voices, split by speaker (held-out real speakers in test); " +
			"tokenizer crops or recognizer utterances with ARPAbet phoneme labels",
		Params: Params,
		Load: func(dataDir string, params map[string]any) (*framework.Data, error) {
			d, err := LoadDataset(dataDir, params)
			if err != nil {
				return nil, err
			}
			fmt.Fprint(os.Stderr, d.Manifest.Summary())
			return d.FrameworkData()
		},
	})
}

// LoadDataset builds the manifest that params describe and loads the clips of their mode. A
// key absent from params takes its default.
func LoadDataset(dataDir string, params map[string]any) (*Dataset, error) {
	p := hparams.Params(mapParams(params))
	m, err := BuildManifest(context.Background(), Config{DataDir: dataDir,
		CacheDir:       hparams.Get[string](p, Params, ParamCacheDir),
		SynthPerVoice:  hparams.Get[int](p, Params, ParamSynthPerVoice),
		LibriSpeechDir: hparams.Get[string](p, Params, ParamLibriSpeechDir)})
	if err != nil {
		return nil, err
	}
	return NewDataset(m, Options{Mode: hparams.Get[string](p, Params, ParamMode),
		CropSeconds: hparams.Get[float64](p, Params, ParamCropSeconds), MaxSeconds: hparams.Get[float64](p, Params, ParamMaxSeconds),
		MaxLabels: hparams.Get[int](p, Params, ParamMaxLabels), NoNarrowband: !hparams.Get[bool](p, Params, ParamNarrowband)})
}

// FrameworkData returns the training stream (tokenizer: Crops of the training clips;
// recognizer: the training Utterances, shuffled) and in-order passes over the validation and
// test splits (tokenizer: Windows; recognizer: Utterances).
func (d *Dataset) FrameworkData() (*framework.Data, error) {
	sources := map[string]datasets.Source{}
	for _, split := range append([]string{framework.SplitTrain}, EvalSplits...) {
		if d.Mode == ModeRecognizer {
			s, err := d.utterances(split)
			if err != nil {
				return nil, err
			}
			sources[split] = s
		} else if split != framework.SplitTrain {
			sources[split] = NewWindows(d.clips(split), d.CropSamples)
		}
	}
	if len(d.Splits[framework.SplitTrain]) == 0 {
		var skipped []string
		for _, s := range d.Manifest.Skipped {
			skipped = append(skipped, s.What+": "+s.Reason)
		}
		return nil, fmt.Errorf("speech: no %s utterance for mode %s (%d left out; skipped: %s)", framework.SplitTrain, d.Mode,
			d.Dropped[framework.SplitTrain], strings.Join(skipped, "; "))
	}
	var splits []string
	for _, s := range EvalSplits {
		if len(d.Splits[s]) > 0 {
			splits = append(splits, s)
		}
	}
	return &framework.Data{
		TrainBatches: func(batchSize int, seed int64, start int64) train.Dataset {
			src := sources[framework.SplitTrain]
			if d.Mode == ModeTokenizer {
				src = NewCrops(d.clips(framework.SplitTrain), d.CropSamples, seed)
			}
			return datasets.NewBatches(DatasetName+"/train", src, batchSize).Shuffle(seed).Infinite(true).StartAtBatch(start)
		},
		EvalBatches: func(split string, batchSize int) (train.Dataset, error) {
			src, ok := sources[split]
			if !ok || src.Len() == 0 {
				return nil, fmt.Errorf("speech: split %q holds no %s example", split, d.Mode)
			}
			return datasets.NewBatches(DatasetName+"/"+split, src, batchSize), nil
		},
		EvalSplits: splits,
		Source:     d,
	}, nil
}

// mapParams adapts a params map to hparams.Params.
type mapParams map[string]any

// GetParam implements hparams.Params.
func (m mapParams) GetParam(key string) (any, bool) {
	v, ok := m[key]
	return v, ok
}
