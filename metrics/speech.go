package metrics

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"

	"github.com/qzoo/qzoo/dsp"
)

// LogMelDistanceRate is the sample rate (Hz) at which [LogMelDistance] compares signals.
const LogMelDistanceRate = 16000

// LogMelDistanceMel is the spectrogram [LogMelDistance] compares: at 16 kHz, a 1024-point STFT
// with a 1024-sample periodic Hann window and hop 256 (16 ms), centred (512 zeros at each
// end), 80 mel bands from 0 to 8 kHz on the Slaney scale with area-normalised filters, natural
// log with a floor of 1e-5: the mel spectrogram of HiFi-GAN and of most neural speech codecs'
// reconstruction losses and tables (there on signals in [−1, 1], as here).
var LogMelDistanceMel = dsp.Mel{
	STFT:       dsp.STFT{NFFT: 1024, Win: 1024, Hop: 256, Center: true},
	SampleRate: LogMelDistanceRate,
	NMels:      80,
	FMax:       8000,
	Scale:      dsp.Slaney,
	AreaNorm:   true,
	Floor:      1e-5,
}

// LogMelDistance is the mean absolute difference of the log-mel spectrograms
// ([LogMelDistanceMel]) of reference and test, mono signals of equal length at rate Hz,
// resampled to 16 kHz first when rate differs: (1/(F·80)) Σ_f Σ_m |ln M_ref(f, m) − ln M_test(f, m)|,
// in nepers (natural-log units; 0 for identical signals). Errors: [ErrLengthMismatch],
// [ErrTooShort] for a signal shorter than one window (1024 samples at 16 kHz, 64 ms), and an
// invalid rate.
func LogMelDistance(reference, test []float32, rate int) (float64, error) {
	if len(reference) != len(test) {
		return 0, fmt.Errorf("log-mel distance: %w (%d and %d samples)", ErrLengthMismatch, len(reference), len(test))
	}
	var err error
	if rate != LogMelDistanceRate {
		if reference, err = dsp.Resample(reference, rate, LogMelDistanceRate); err != nil {
			return 0, fmt.Errorf("log-mel distance: %w", err)
		}
		if test, err = dsp.Resample(test, rate, LogMelDistanceRate); err != nil {
			return 0, fmt.Errorf("log-mel distance: %w", err)
		}
	}
	if len(reference) < LogMelDistanceMel.Win {
		return 0, fmt.Errorf("log-mel distance: %w: %d samples at %d Hz, fewer than one %d-sample window",
			ErrTooShort, len(reference), LogMelDistanceRate, LogMelDistanceMel.Win)
	}
	a, _, err := LogMelDistanceMel.LogMel(reference)
	if err != nil {
		return 0, fmt.Errorf("log-mel distance: %w", err)
	}
	b, _, err := LogMelDistanceMel.LogMel(test)
	if err != nil {
		return 0, fmt.Errorf("log-mel distance: %w", err)
	}
	var sum float64
	for i := range a {
		sum += math.Abs(float64(a[i]) - float64(b[i]))
	}
	return sum / float64(len(a)), nil
}

// EditCounts is the alignment of a hypothesis against a reference token sequence with the
// fewest edits (Levenshtein 1966; all edits cost 1): Substitutions + Deletions + Insertions is
// the edit distance, Reference the reference's length N. Counts of several utterances add up
// ([EditCounts.Add]), so a corpus error rate is Σ errors / Σ N, not a mean of rates.
type EditCounts struct {
	Substitutions, Deletions, Insertions int
	Reference                            int
}

// Errors is S + D + I.
func (c EditCounts) Errors() int { return c.Substitutions + c.Deletions + c.Insertions }

// Rate is the error rate (S + D + I) / N: the word error rate over words, the phoneme error rate
// over phonemes. It can exceed 1 (insertions). With an empty reference it is 0 when there are
// no errors and +Inf otherwise.
func (c EditCounts) Rate() float64 {
	if c.Reference == 0 {
		if c.Errors() == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return float64(c.Errors()) / float64(c.Reference)
}

// Add returns the sum of two counts (pooling utterances).
func (c EditCounts) Add(o EditCounts) EditCounts {
	return EditCounts{
		Substitutions: c.Substitutions + o.Substitutions,
		Deletions:     c.Deletions + o.Deletions,
		Insertions:    c.Insertions + o.Insertions,
		Reference:     c.Reference + o.Reference,
	}
}

// Align aligns hyp to ref with the fewest substitutions, deletions (tokens of ref missing from
// hyp) and insertions (tokens of hyp not in ref), by dynamic programming in O(len(ref)·len(hyp))
// time and O(len(ref)·len(hyp)) memory for the back-trace. Among alignments with the fewest
// edits it prefers, tracing back from the end, a match or substitution, then a deletion, then an
// insertion (as NIST sclite does), so the split into S, D and I is deterministic.
func Align[T comparable](ref, hyp []T) EditCounts {
	n, m := len(ref), len(hyp)
	w := m + 1
	cost := make([]int32, (n+1)*w)
	for i := 0; i <= n; i++ {
		cost[i*w] = int32(i)
	}
	for j := 0; j <= m; j++ {
		cost[j] = int32(j)
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			sub := cost[(i-1)*w+j-1]
			if ref[i-1] != hyp[j-1] {
				sub++
			}
			cost[i*w+j] = min(sub, cost[(i-1)*w+j]+1, cost[i*w+j-1]+1)
		}
	}
	c := EditCounts{Reference: n}
	for i, j := n, m; i > 0 || j > 0; {
		switch {
		case i > 0 && j > 0 && ref[i-1] == hyp[j-1] && cost[i*w+j] == cost[(i-1)*w+j-1]:
			i, j = i-1, j-1
		case i > 0 && j > 0 && cost[i*w+j] == cost[(i-1)*w+j-1]+1:
			c.Substitutions++
			i, j = i-1, j-1
		case i > 0 && cost[i*w+j] == cost[(i-1)*w+j]+1:
			c.Deletions++
			i--
		default:
			c.Insertions++
			j--
		}
	}
	return c
}

// NormalizeWords splits text into the words a word error rate counts: lower case (Unicode
// simple folding), every character that is neither a letter, a digit nor an apostrophe inside a
// word becomes a space (so "well-known," gives "well" and "known"; "don't" stays one word;
// quotes around a word go), then the text is split at white space. Sentence markers of
// Sphinx-style transcripts ("<s>", "</s>", "<sil>") give no word. Numbers are not spelled out:
// "12" and "twelve" differ.
func NormalizeWords(text string) []string {
	var b strings.Builder
	runes := []rune(sphinxTag.ReplaceAllString(strings.ToLower(text), " "))
	for i, r := range runes {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case (r == '\'' || r == '’') && i > 0 && i+1 < len(runes) &&
			unicode.IsLetter(runes[i-1]) && unicode.IsLetter(runes[i+1]):
			b.WriteRune('\'')
		default:
			b.WriteRune(' ')
		}
	}
	return strings.Fields(b.String())
}

// sphinxTag matches the markers of Sphinx-style transcripts and hypotheses.
var sphinxTag = regexp.MustCompile(`</?[a-z]+>`)

// WordErrors aligns the words of hypothesis to those of reference, both normalised by
// [NormalizeWords]; Rate() of the result is the word error rate.
func WordErrors(reference, hypothesis string) EditCounts {
	return Align(NormalizeWords(reference), NormalizeWords(hypothesis))
}
