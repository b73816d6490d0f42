package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/internal/datadir"
)

// librivoxClip reads one of the five LibriVox utterances (16 kHz, 3.0 s, one male reader).
func librivoxClip(t *testing.T) ([]float32, int) {
	t.Helper()
	a, err := wav.Read(datadir.File(t, "speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"))
	if err != nil {
		t.Fatal(err)
	}
	return a.Mono(), a.SampleRate
}

// withNoise adds white Gaussian noise at snr dB relative to x's mean power.
func withNoise(x []float32, snr float64, seed uint64) []float32 {
	var p float64
	for _, v := range x {
		p += float64(v) * float64(v)
	}
	sigma := math.Sqrt(p / float64(len(x)) / math.Pow(10, snr/10))
	rng := rand.New(rand.NewPCG(seed, 1))
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = v + float32(sigma*rng.NormFloat64())
	}
	return y
}

func TestSTOIIdenticalIsOne(t *testing.T) {
	x, rate := librivoxClip(t)
	d, err := STOI(x, x, rate)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d-1) > 1e-6 {
		t.Errorf("STOI of a clip against itself = %.9f, want 1", d)
	}
	// Scaling the processed signal changes nothing (α normalises each segment's energy).
	half := make([]float32, len(x))
	for i, v := range x {
		half[i] = v / 2
	}
	if d, err := STOI(x, half, rate); err != nil || math.Abs(d-1) > 1e-6 {
		t.Errorf("STOI against the clip at half amplitude = %.9f (%v), want 1", d, err)
	}
}

func TestSTOIFallsWithNoise(t *testing.T) {
	x, rate := librivoxClip(t)
	prev := 1.0
	for _, snr := range []float64{20, 10, 0, -5} {
		d, err := STOI(x, withNoise(x, snr, 7), rate)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("white noise at %3.0f dB SNR: STOI %.4f", snr, d)
		if d >= prev {
			t.Errorf("STOI at %g dB SNR is %.4f, not below %.4f at the previous, higher SNR", snr, d, prev)
		}
		prev = d
	}
	// Speech in white noise at −5 dB SNR is still partly intelligible: STOI well above 0
	// and well below 1 (Taal et al. 2011, Fig. 3 reach about 0.6 there).
	if prev < 0.3 || prev > 0.85 {
		t.Errorf("STOI at −5 dB SNR = %.4f, want within [0.3, 0.85]", prev)
	}
}

// TestSTOISmallDelay: a delay of up to 2 ms (20 samples at 10 kHz, 8 % of a 25.6 ms frame)
// barely moves STOI, since it compares 384 ms envelopes of 25.6 ms frames.
func TestSTOISmallDelay(t *testing.T) {
	x, rate := librivoxClip(t)
	for _, ms := range []float64{0.5, 1, 2} {
		shift := int(ms * float64(rate) / 1000)
		y := make([]float32, len(x))
		copy(y[shift:], x)
		d, err := STOI(x, y, rate)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("delay %.1f ms: STOI %.4f", ms, d)
		if 1-d > 0.05 {
			t.Errorf("a delay of %g ms drops STOI to %.4f, more than 0.05 below 1", ms, d)
		}
	}
}

func TestSTOIErrors(t *testing.T) {
	x, rate := librivoxClip(t)
	if _, err := STOI(x, x[:len(x)-1], rate); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("different lengths: err = %v, want ErrLengthMismatch", err)
	}
	// 300 ms at 16 kHz gives 22 frames at 10 kHz: fewer than the 30 of one segment.
	short := x[16000 : 16000+4800]
	if _, err := STOI(short, short, rate); !errors.Is(err, ErrTooShort) {
		t.Errorf("300 ms: err = %v, want ErrTooShort", err)
	}
	if _, err := STOI(nil, nil, rate); !errors.Is(err, ErrTooShort) {
		t.Errorf("empty: err = %v, want ErrTooShort", err)
	}
	// A silent clean signal keeps every frame (all are as loud as its loudest) but its bands
	// are constant, so every correlation is 0.
	silence := make([]float32, len(x))
	if d, err := STOI(silence, x, rate); err != nil || d != 0 {
		t.Errorf("silent clean signal: STOI %g (%v), want 0", d, err)
	}
	if _, err := STOI(x, x, 0); err == nil {
		t.Error("rate 0 accepted")
	}
}

func TestThirdOctaveBands(t *testing.T) {
	lo, hi := thirdOctaveBins()
	// Band 0 spans 133.6–168.4 Hz: bins 7 (136.7 Hz) to 9 (175.8 Hz, the nearest to 168.4);
	// each band starts where the previous ends and the last ends below 5 kHz.
	if lo[0] != 7 || hi[0] != 9 {
		t.Errorf("band 0 = bins [%d, %d), want [7, 9)", lo[0], hi[0])
	}
	for j := 1; j < stoiBands; j++ {
		if lo[j] != hi[j-1] || hi[j] <= lo[j] {
			t.Errorf("band %d = [%d, %d) after [%d, %d)", j, lo[j], hi[j], lo[j-1], hi[j-1])
		}
	}
	if hi[stoiBands-1] > stoiFFT/2 {
		t.Errorf("last band ends at bin %d", hi[stoiBands-1])
	}
}

func TestLogMelDistance(t *testing.T) {
	x, rate := librivoxClip(t)
	if d, err := LogMelDistance(x, x, rate); err != nil || d != 0 {
		t.Fatalf("identical: %g, %v", d, err)
	}
	prev := 0.0
	for _, snr := range []float64{30, 10, 0} {
		d, err := LogMelDistance(x, withNoise(x, snr, 3), rate)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("white noise at %2.0f dB SNR: log-mel distance %.3f", snr, d)
		if d <= prev {
			t.Errorf("log-mel distance at %g dB SNR = %.3f, not above %.3f", snr, d, prev)
		}
		prev = d
	}
	// Halving the amplitude shifts every log-mel value by ln 4 except where the floor holds
	// (this clip, from a 64 kbit/s MP3, has next to nothing above about 7 kHz).
	half := make([]float32, len(x))
	for i, v := range x {
		half[i] = v / 2
	}
	if d, _ := LogMelDistance(x, half, rate); d > math.Log(4)+1e-6 || d < 0.5*math.Log(4) {
		t.Errorf("half amplitude: %.4f, want within [ln 4 / 2, ln 4 = %.4f]", d, math.Log(4))
	}
	// At 8 kHz the signals are resampled to 16 kHz first: the same clip gives 0.
	if d, err := LogMelDistance(x[:8000], x[:8000], 8000); err != nil || d != 0 {
		t.Errorf("8 kHz identical: %g, %v", d, err)
	}
	if _, err := LogMelDistance(x, x[1:], rate); !errors.Is(err, ErrLengthMismatch) {
		t.Errorf("different lengths: %v", err)
	}
	for _, n := range []int{0, 1023} {
		if _, err := LogMelDistance(x[:n], x[:n], rate); !errors.Is(err, ErrTooShort) {
			t.Errorf("%d samples: %v, want ErrTooShort", n, err)
		}
	}
}

func TestAlign(t *testing.T) {
	words := func(s string) []string { return NormalizeWords(s) }
	for _, c := range []struct {
		ref, hyp string
		want     EditCounts
	}{
		{"the cat sat", "the cat sat", EditCounts{Reference: 3}},
		{"the cat sat", "the bat sat", EditCounts{Substitutions: 1, Reference: 3}},
		{"the cat sat", "the sat", EditCounts{Deletions: 1, Reference: 3}},
		{"the cat sat", "the cat sat down", EditCounts{Insertions: 1, Reference: 3}},
		{"the cat sat", "", EditCounts{Deletions: 3, Reference: 3}},
		{"", "a b", EditCounts{Insertions: 2}},
		// kitten → sitting, on letters: 2 substitutions and 1 insertion (distance 3).
		{"k i t t e n", "s i t t i n g", EditCounts{Substitutions: 2, Insertions: 1, Reference: 6}},
		// The STACK.md example: "he was not an ill disposed young man" heard as
		// "he was not an illness those young man": 2 substitutions (ill→illness, disposed→those).
		{"he was not an ill disposed young man", "he was not an illness those young man", EditCounts{Substitutions: 2, Reference: 8}},
		// a b c d → b c d e: one deletion and one insertion, not 4 substitutions.
		{"a b c d", "b c d e", EditCounts{Deletions: 1, Insertions: 1, Reference: 4}},
	} {
		got := Align(words(c.ref), words(c.hyp))
		if got != c.want {
			t.Errorf("Align(%q, %q) = %+v, want %+v", c.ref, c.hyp, got, c.want)
		}
	}
	// Phonemes are tokens too.
	if got := Align([]string{"HH", "AH", "L", "OW"}, []string{"HH", "EH", "L", "OW"}); got.Rate() != 0.25 {
		t.Errorf("PER = %g, want 0.25", got.Rate())
	}
	total := WordErrors("a b c d", "a x c d").Add(WordErrors("e f", "e f g h"))
	if total.Errors() != 3 || total.Reference != 6 || total.Rate() != 0.5 {
		t.Errorf("pooled: %+v rate %g, want 3 errors over 6 words", total, total.Rate())
	}
	if r := (EditCounts{}).Rate(); r != 0 {
		t.Errorf("empty rate %g", r)
	}
	if r := (EditCounts{Insertions: 1}).Rate(); !math.IsInf(r, 1) {
		t.Errorf("insertions into an empty reference: rate %g, want +Inf", r)
	}
}

func TestNormalizeWords(t *testing.T) {
	for in, want := range map[string][]string{
		"<s> Had he married a MORE amiable woman, he might... </s> (sense-0920)": {"had", "he", "married", "a", "more", "amiable", "woman", "he", "might", "sense", "0920"},
		"Don't say 'well-known' — it’s \"fine\"!":                                {"don't", "say", "well", "known", "it's", "fine"},
		"  <sil>  ": nil,
	} {
		if got := NormalizeWords(in); len(got)+len(want) > 0 && !reflect.DeepEqual(got, want) {
			t.Errorf("NormalizeWords(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSTOIAgreesWithReference compares STOI with a numpy transcription of pystoi
// (testdata/stoi_reference.py) on a real clip at 10 kHz, STOI's own rate, clean against
// itself plus white noise at four SNRs: equal to 1e-6.
func TestSTOIAgreesWithReference(t *testing.T) {
	x, rate := librivoxClip(t)
	x10, err := dsp.Resample(x, rate, 10000)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	snrs := []float64{20, 5, 0, -5}
	var files []string
	var want []float64
	for i, snr := range snrs {
		y := withNoise(x10, snr, uint64(i))
		d, err := STOI(x10, y, 10000)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
		b := make([]byte, 0, 8*len(x10))
		for _, v := range append(append([]float32(nil), x10...), y...) {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		name := filepath.Join(dir, fmt.Sprintf("pair%d.f32", i))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	out, err := exec.Command("/usr/bin/python3", append([]string{"testdata/stoi_reference.py"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("the numpy reference (needs Debian's python3-numpy): %v: %s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(snrs) {
		t.Fatalf("the reference printed %q, want %d numbers", out, len(snrs))
	}
	for i, line := range lines {
		ref, err := strconv.ParseFloat(line, 64)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ref-want[i]) > 1e-6 {
			t.Errorf("%g dB SNR: STOI %.9f, reference %.9f", snrs[i], want[i], ref)
		}
	}
}
