package speech

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/qzoo/qzoo/internal/strictjson"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/audio"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
)

// Clip is a held-out recording to code: mono samples at Rate Hz and, when known, the words
// spoken (lower case, as pocketsphinx's test transcription writes them).
type Clip struct {
	Name       string // e.g. "librivox-0870"
	Audio      []float32
	Rate       int
	Transcript string // "" when the clip has none (no word error rate)
}

// Seconds is the clip's duration.
func (c Clip) Seconds() float64 { return float64(len(c.Audio)) / float64(c.Rate) }

// The held-out real clips of the data directory, never trained on: five utterances of one
// LibriVox reader (pocketsphinx-testdata, 16 kHz WAV, with its transcription file) and two
// LibriSpeech test utterances (16 kHz FLAC, no transcript here).
var (
	LibriVoxClips = []string{
		"speech/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
		"speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
		"speech/librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
		"speech/librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
		"speech/librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
	}
	LibriVoxTranscription = "speech/librivox/transcription"
	LibriSpeechClips      = []string{"speech/librispeech/test_audio_0.flac", "speech/librispeech/test_audio_1.flac"}
)

// LoadHeldOutClips loads [LibriVoxClips] (with their transcripts) and [LibriSpeechClips] at
// 16 kHz from the data directory (found by framework.LocateData: dataDir, then
// $QZOO_DATA_DIR, ...). Errors name the missing or bad file.
func LoadHeldOutClips(dataDir string) ([]Clip, error) {
	tpath, err := framework.LocateData(dataDir, LibriVoxTranscription)
	if err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	words, err := ReadTranscription(tpath)
	if err != nil {
		return nil, err
	}
	var clips []Clip
	for _, name := range append(slices.Clone(LibriVoxClips), LibriSpeechClips...) {
		path, err := framework.LocateData(dataDir, name)
		if err != nil {
			return nil, fmt.Errorf("speech: %w", err)
		}
		c, err := audio.Load(path, RecognizerRate)
		if err != nil {
			return nil, fmt.Errorf("speech: %w", err)
		}
		base := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
		// Short names: "librivox-0870" (the utterance number), "librispeech-test_audio_0".
		short := base[strings.LastIndex(base, "-")+1:]
		clips = append(clips, Clip{Name: filepath.Base(filepath.Dir(name)) + "-" + short, Audio: c.Samples, Rate: c.SampleRate, Transcript: words[base]})
	}
	return clips, nil
}

// ReadTranscription reads a transcription file in Sphinx's format, one utterance a line:
// "<s> words </s> (name)", and returns the words by name (sentence markers dropped). Errors
// name the file and line.
func ReadTranscription(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		line = strings.TrimSpace(line)
		open := strings.LastIndex(line, "(")
		if open < 0 || !strings.HasSuffix(line, ")") {
			return nil, fmt.Errorf("speech: %s line %d: no (name) at the end of %q", path, i+1, line)
		}
		var words []string
		for _, w := range strings.Fields(line[:open]) {
			if w != "<s>" && w != "</s>" {
				words = append(words, w)
			}
		}
		out[line[open+1:len(line)-1]] = strings.Join(words, " ")
	}
	return out, nil
}

// BandLimitedControl is the original band-limited to 4 kHz (resampled to 8 kHz and back with
// dsp.Resample): what Codec2's output can hold at best, at no bit rate. Its word error rate
// separates pocketsphinx's loss on narrowband audio from a codec's.
type BandLimitedControl struct{}

// Name is "original-4kHz" (the original, band-limited to 4 kHz).
func (BandLimitedControl) Name() string { return "original-4kHz" }

// Code returns x band-limited to 4 kHz, with zero bits and zero times.
func (BandLimitedControl) Code(x []float32, rate int) (Coded, error) {
	x8, err := dsp.Resample(x, rate, 8000)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: band-limit: %w", err)
	}
	y, err := dsp.Resample(x8, 8000, rate)
	if err != nil {
		return Coded{}, fmt.Errorf("speech: band-limit: %w", err)
	}
	return Coded{Audio: fitLength(y, len(x)), Seconds: float64(len(x)) / float64(rate)}, nil
}

// Kinds of a [Row].
const (
	KindPeer    = "peer"    // a classical codec (Codec2, Opus)
	KindLearned = "learned" // a trained compressing run ([Compressed])
	KindControl = "control" // no codec: [BandLimitedControl]
)

// Row is one codec's result over a study's clips.
type Row struct {
	Codec string `json:"codec"`
	Kind  string `json:"kind"` // KindPeer, KindLearned or KindControl
	// Bit rates (bit/s) and real-time factors (seconds of processing per second of audio)
	// are pooled over the clips' durations; STOI and log-mel distance (nepers) are means over
	// the clips.
	FileBitRate    float64 `json:"file_bit_rate"`
	PayloadBitRate float64 `json:"payload_bit_rate"`
	STOI           float64 `json:"stoi"`
	LogMelDistance float64 `json:"log_mel_distance"`
	EncodeRealTime float64 `json:"encode_real_time"`
	DecodeRealTime float64 `json:"decode_real_time"`
	// WER is pocketsphinx's word error rate on the reconstructions of the transcribed clips,
	// pooled over their Words reference words (Words 0: not measured).
	WER   float64 `json:"wer"`
	Words int     `json:"words"`
	// PER is the phoneme error rate of StudyOptions.Phonemes's recognizer (the speech
	// tokenizer's teacher) on the reconstructions, pooled over Phonemes reference phonemes
	// (0: not measured).
	PER      float64 `json:"per,omitempty"`
	Phonemes int     `json:"phonemes,omitempty"`
	// Coding is a learned codec's coding values (frame rate, stages, ...), when it reports them.
	Coding map[string]float64 `json:"coding,omitempty"`
	// Clips are the per-clip scores, in the study's clip order.
	Clips []Score `json:"clips"`
}

// Goal is issue 15's check for one learned codec: the Codec2 mode of the nearest payload bit
// rate at or above the codec's (rates within [GoalRateTolerance] counting as equal), and whether the codec's STOI beats it (Codec2 is "" when every
// mode's rate is below the codec's: no mode to beat at an equal or lower rate).
type Goal struct {
	Codec         string  `json:"codec"`
	BitRate       float64 `json:"bit_rate"` // the codec's payload bit/s
	STOI          float64 `json:"stoi"`
	Codec2        string  `json:"codec2,omitempty"`
	Codec2BitRate float64 `json:"codec2_bit_rate,omitempty"`
	Codec2STOI    float64 `json:"codec2_stoi,omitempty"`
	Beats         bool    `json:"beats"`
}

// Table is a study's result: every codec on the same clips, by the same code.
type Table struct {
	Clips   []string `json:"clips"`
	Seconds float64  `json:"seconds"` // the clips' total duration
	// OriginalWER is pocketsphinx's word error rate on the original transcribed clips, pooled
	// over Words reference words (0: not measured).
	OriginalWER float64 `json:"original_wer"`
	Words       int     `json:"words"`
	// OriginalPER is StudyOptions.Phonemes's phoneme error rate on the original clips, pooled
	// over Phonemes reference phonemes (0: not measured).
	OriginalPER float64 `json:"original_per,omitempty"`
	Phonemes    int     `json:"phonemes,omitempty"`
	Transcribed int     `json:"transcribed"` // clips with a transcript, scored by word error rate
	Rows        []Row   `json:"rows"`        // by payload bit rate, then name
	Goals       []Goal  `json:"goals"`       // one per learned codec, in Rows' order
}

// StudyOptions are a study's settings; the zero value codes each clip once and transcribes.
type StudyOptions struct {
	// Repeats codes each clip this many times (0 or 1: once), the fastest encode and the
	// fastest decode counting, so that a model's first call (compiling its graphs) or a
	// tool's cold start does not count; the first coding is scored (every codec here is
	// deterministic).
	Repeats int
	// NoWER skips pocketsphinx.
	NoWER bool
	// Phonemes, if set, scores each reconstruction of a transcribed clip by a phoneme
	// recognizer's errors (the speech tokenizer's frozen teacher: does the coded speech keep
	// its phonemes?), beside the same recognizer's errors on the original.
	Phonemes PhonemeScorer
	// Log receives a line per codec (nil: none).
	Log io.Writer
}

// PhonemeScorer counts a phoneme recognizer's errors on audio (mono samples at the clip's
// rate) against the phonemes of clip's transcript; ok is false for a clip it cannot score
// (no transcript).
type PhonemeScorer interface {
	PhonemeErrors(clip Clip, audio []float32) (counts metrics.EditCounts, ok bool, err error)
}

// Study codes every clip with every codec and scores it with [Evaluate] and, on the
// transcribed clips, pocketsphinx's word error rate ([Transcribe], [metrics.WordErrors]). A
// *[Compressed] codec is KindLearned, [BandLimitedControl] KindControl, any other KindPeer.
// Errors: a codec's, a metric's or the recognizer's, naming the codec and clip.
func Study(codecs []Peer, clips []Clip, o StudyOptions) (*Table, error) {
	if len(clips) == 0 {
		return nil, fmt.Errorf("speech: study: no clips")
	}
	t := &Table{}
	var orig metrics.EditCounts
	for _, c := range clips {
		t.Clips = append(t.Clips, c.Name)
		t.Seconds += c.Seconds()
		if c.Transcript != "" && !o.NoWER {
			hyp, err := Transcribe(c.Audio, c.Rate)
			if err != nil {
				return nil, fmt.Errorf("speech: study: original %s: %w", c.Name, err)
			}
			orig = orig.Add(metrics.WordErrors(c.Transcript, hyp))
			t.Transcribed++
		}
	}
	t.OriginalWER, t.Words = orig.Rate(), orig.Reference
	if o.Phonemes != nil {
		var per metrics.EditCounts
		for _, c := range clips {
			counts, ok, err := o.Phonemes.PhonemeErrors(c, c.Audio)
			if err != nil {
				return nil, fmt.Errorf("speech: study: phonemes of the original %s: %w", c.Name, err)
			}
			if ok {
				per = per.Add(counts)
			}
		}
		t.OriginalPER, t.Phonemes = per.Rate(), per.Reference
	}
	for _, p := range codecs {
		r, err := studyRow(p, clips, o)
		if err != nil {
			return nil, err
		}
		if o.Log != nil {
			fmt.Fprintf(o.Log, "speech: %s: %.0f bit/s, STOI %.3f, log-mel %.3f\n", r.Codec, r.PayloadBitRate, r.STOI, r.LogMelDistance)
		}
		t.Rows = append(t.Rows, r)
	}
	slices.SortStableFunc(t.Rows, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.PayloadBitRate, b.PayloadBitRate), strings.Compare(a.Codec, b.Codec))
	})
	for _, r := range t.Rows {
		if r.Kind == KindLearned {
			t.Goals = append(t.Goals, t.goal(r))
		}
	}
	return t, nil
}

// studyRow codes every clip with p.
func studyRow(p Peer, clips []Clip, o StudyOptions) (Row, error) {
	r := Row{Codec: p.Name(), Kind: KindPeer}
	switch q := p.(type) {
	case interface{ Coding() map[string]float64 }: // a learned codec (*Compressed, ...)
		r.Kind, r.Coding = KindLearned, q.Coding()
	case BandLimitedControl:
		r.Kind = KindControl
	}
	var wer, per metrics.EditCounts
	var seconds float64
	for _, c := range clips {
		var first Coded
		for i := range max(1, o.Repeats) {
			coded, err := p.Code(c.Audio, c.Rate)
			if err != nil {
				return Row{}, fmt.Errorf("speech: study: %s on %s: %w", p.Name(), c.Name, err)
			}
			if i == 0 {
				first = coded
			}
			first.EncodeSeconds = math.Min(first.EncodeSeconds, coded.EncodeSeconds)
			first.DecodeSeconds = math.Min(first.DecodeSeconds, coded.DecodeSeconds)
		}
		s, err := Evaluate(p.Name(), c.Audio, c.Rate, first)
		if err != nil {
			return Row{}, fmt.Errorf("speech: study: %s: %w", c.Name, err)
		}
		r.Clips = append(r.Clips, s)
		seconds += s.Seconds
		r.FileBitRate += s.FileBitRate * s.Seconds
		r.PayloadBitRate += s.PayloadBitRate * s.Seconds
		r.EncodeRealTime += s.EncodeRealTime * s.Seconds
		r.DecodeRealTime += s.DecodeRealTime * s.Seconds
		r.STOI += s.STOI / float64(len(clips))
		r.LogMelDistance += s.LogMelDistance / float64(len(clips))
		if c.Transcript != "" && !o.NoWER {
			hyp, err := Transcribe(first.Audio, c.Rate)
			if err != nil {
				return Row{}, fmt.Errorf("speech: study: %s on %s: %w", p.Name(), c.Name, err)
			}
			wer = wer.Add(metrics.WordErrors(c.Transcript, hyp))
		}
		if o.Phonemes != nil {
			counts, ok, err := o.Phonemes.PhonemeErrors(c, first.Audio)
			if err != nil {
				return Row{}, fmt.Errorf("speech: study: phonemes of %s on %s: %w", p.Name(), c.Name, err)
			}
			if ok {
				per = per.Add(counts)
			}
		}
	}
	r.PER, r.Phonemes = per.Rate(), per.Reference
	r.FileBitRate /= seconds
	r.PayloadBitRate /= seconds
	r.EncodeRealTime /= seconds
	r.DecodeRealTime /= seconds
	r.WER, r.Words = wer.Rate(), wer.Reference
	return r, nil
}

// GoalRateTolerance is the relative difference of bit rates that [Goal] counts as equal: both
// codecs pad a clip's last frame, so on clips of a few seconds their measured rates sit a
// little above the nominal ones (Codec2 1200 measures 1208 bit/s on the held-out clips, a
// 12.5 Hz tokenizer of 96 bits per frame 1211), and the mode meant is the one of equal rate.
const GoalRateTolerance = 0.01

// goal finds the Codec2 row of the nearest payload bit rate at or above r's (within
// GoalRateTolerance).
func (t *Table) goal(r Row) Goal {
	g := Goal{Codec: r.Codec, BitRate: r.PayloadBitRate, STOI: r.STOI}
	for _, c := range t.Rows { // by rate: the first at or above is the nearest
		if c.Kind == KindPeer && strings.HasPrefix(c.Codec, "codec2-") && c.PayloadBitRate >= (1-GoalRateTolerance)*r.PayloadBitRate {
			g.Codec2, g.Codec2BitRate, g.Codec2STOI, g.Beats = c.Codec, c.PayloadBitRate, c.STOI, r.STOI > c.STOI
			break
		}
	}
	return g
}

// ReadTable reads the table a benchmark report holds: the JSON that go run ./bench speech
// --json writes (harness's schema, the table as its "details"). Errors name the file.
func ReadTable(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("speech: %w", err)
	}
	var report struct {
		Benchmark string `json:"benchmark"`
		Details   *Table `json:"details"`
	}
	if err := json.Unmarshal(b, &report); err != nil {
		return nil, fmt.Errorf("speech: %s: %w", path, strictjson.Describe(b, err))
	}
	if report.Benchmark != "speech" || report.Details == nil || len(report.Details.Rows) == 0 {
		return nil, fmt.Errorf("speech: %s is not a report of the speech benchmark with rows (benchmark %q)", path, report.Benchmark)
	}
	return report.Details, nil
}

// Print writes the table in Markdown: one row per codec by bit rate, the original's word
// error rate first, then the goal check of every learned codec.
func (t *Table) Print(w io.Writer) {
	fmt.Fprintf(w, "%d held-out clips, %.1f s: %s\n\n", len(t.Clips), t.Seconds, strings.Join(t.Clips, ", "))
	fmt.Fprintln(w, "| codec | file bit/s | payload bit/s | STOI | log-mel dist. | WER | PER (teacher) | enc. RTF | dec. RTF |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	fmt.Fprintf(w, "| original | | | 1 | 0 | %s | %s | | |\n", rateText(t.OriginalWER, t.Words), rateText(t.OriginalPER, t.Phonemes))
	for _, r := range t.Rows {
		rates := fmt.Sprintf("%.0f | %.0f", r.FileBitRate, r.PayloadBitRate)
		times := fmt.Sprintf("%.3f | %.3f", r.EncodeRealTime, r.DecodeRealTime)
		if r.Kind == KindControl {
			rates, times = " | ", " | "
		}
		fmt.Fprintf(w, "| %s | %s | %.3f | %.3f | %s | %s | %s |\n", r.Codec, rates, r.STOI, r.LogMelDistance, rateText(r.WER, r.Words), rateText(r.PER, r.Phonemes), times)
	}
	if t.Words > 0 {
		fmt.Fprintf(w, "\nWER: pocketsphinx on the %d transcribed clips' %d words (a 16 kHz model: narrowband output scores badly whatever its quality; compare with the 4 kHz band control).\n", t.Transcribed, t.Words)
	}
	if t.Phonemes > 0 {
		fmt.Fprintf(w, "PER: the tokenizer's frozen teacher (greedy CTC) on the transcribed clips' %d phonemes (espeak-ng's transcription of their words).\n", t.Phonemes)
	}
	if len(t.Goals) > 0 {
		fmt.Fprintln(w, "\nGoal: better STOI than Codec2 at an equal or lower bit rate (payload bit/s):")
		for _, g := range t.Goals {
			if g.Codec2 == "" {
				fmt.Fprintf(w, "- %s at %.0f bit/s, STOI %.3f: above every Codec2 mode's rate, nothing to compare\n", g.Codec, g.BitRate, g.STOI)
				continue
			}
			verdict := "falls short of"
			if g.Beats {
				verdict = "beats"
			}
			fmt.Fprintf(w, "- %s at %.0f bit/s, STOI %.3f %s %s at %.0f bit/s, STOI %.3f\n", g.Codec, g.BitRate, g.STOI, verdict, g.Codec2, g.Codec2BitRate, g.Codec2STOI)
		}
	}
}

// rateText is an error rate over n reference tokens, or "–" when none was measured.
func rateText(rate float64, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", rate)
}
