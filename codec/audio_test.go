package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/dsp"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/formats/wav"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/datadir"
	"github.com/qzoo/qzoo/internal/gainmodel"
	"github.com/qzoo/qzoo/media"
)

// The test's audio model, "test_mulaw": every 16 kHz sample companded by the continuous µ-law
// (µ = 255, G.711's curve) and quantized to 8 bits, one byte each, 128 kbit/s. It trains one scalar for a step only so that a run
// directory with a checkpoint exists; its compressor does not read it.
const mulawModel = "test_mulaw"

func init() {
	gainmodel.Register(mulawModel, "8-bit µ-law of 16 kHz audio (codec tests)")
	compressor.Register(mulawModel, func(*framework.Config, *model.Store) (compressor.Compressor, error) { return mulaw{}, nil })
}

// errMulawCorrupt is the test compressor's corruption error.
var errMulawCorrupt = errors.New("test_mulaw: corrupt payload")

// mulaw is the test's audio compressor.
type mulaw struct{}

const mu = 255

func (mulaw) Kind() qzc.Kind                       { return qzc.Audio }
func (mulaw) Channels() []string                   { return []string{"mono"} }
func (mulaw) Normalisation() (mean, std []float64) { return nil, nil }
func (mulaw) Close()                               {}
func (mulaw) Coding() map[string]float64 {
	return map[string]float64{qzc.CodingFrameRate: 16000, qzc.CodingStages: 1, "bits_per_frame": 8}
}

func (mulaw) Encode(s media.Signal) ([]byte, float64, error) {
	if s.SampleRate != 16000 || len(s.Data) != 1 {
		return nil, 0, fmt.Errorf("test_mulaw: codes one channel at 16000 Hz, got %d at %d Hz", len(s.Data), s.SampleRate)
	}
	out := make([]byte, len(s.Data[0]))
	for i, v := range s.Data[0] {
		x := math.Max(-1, math.Min(1, float64(v)))
		y := math.Copysign(math.Log1p(mu*math.Abs(x))/math.Log1p(mu), x)
		out[i] = byte(math.Round((y + 1) / 2 * 255))
	}
	return out, 8 * float64(len(out)), nil
}

func (mulaw) Decode(payload []byte, shape []int) (media.Signal, error) {
	if len(shape) != 1 || len(payload) != shape[0] {
		return media.Signal{}, fmt.Errorf("%w: %d bytes for shape %v", errMulawCorrupt, len(payload), shape)
	}
	x := make([]float32, len(payload))
	for i, b := range payload {
		y := float64(b)/255*2 - 1
		x[i] = float32(math.Copysign((math.Pow(1+mu, math.Abs(y))-1)/mu, y))
	}
	return media.Signal{Kind: qzc.Audio, Channels: []string{"mono"}, Shape: shape, Data: [][]float32{x}, SampleRate: 16000}, nil
}

// clipFile is a real 16 kHz mono LibriVox recording (7.1 s).
const clipFile = "speech/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"

// trainMulaw makes a run directory of the test's audio model (one training step).
func trainMulaw(t *testing.T) string {
	t.Helper()
	run := t.TempDir()
	trainConfig(t, run, `{"model": "`+mulawModel+`", "steps": 1, "batch_size": 2, "eval_batch_size": 2}`)
	return run
}

// snr is the signal-to-noise ratio of got against want in dB, over their common length.
func snr(want, got []float32) float64 {
	var s, e float64
	for i := range min(len(want), len(got)) {
		d := float64(got[i]) - float64(want[i])
		s += float64(want[i]) * float64(want[i])
		e += d * d
	}
	return 10 * math.Log10(s/e)
}

// TestAudioPath runs the whole path on a real clip and on a 44.1 kHz stereo source made from
// it: compress → .qzc (version 3, the model's coding values) → inspect (frame rate, stages,
// bit rates from the file) → decompress to a 16 kHz mono WAV of the source's duration, close
// to the source.
func TestAudioPath(t *testing.T) {
	run := trainMulaw(t)
	clip := datadir.File(t, clipFile)
	src, err := wav.Read(clip)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	qzcPath, back := filepath.Join(dir, "clip.qzc"), filepath.Join(dir, "back.wav")
	var log bytes.Buffer
	if err := runCmd([]string{"compress", "--checkpoint", run, clip, qzcPath}, &log); err != nil {
		t.Fatal(err)
	}
	// 113600 one-byte samples over 7.1 s: the payload is exactly 128 kbit/s.
	for _, want := range []string{"113600 samples at 16000 Hz (7.100 s)", "payload 128000.0 bit/s", "real time"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("compress printed no %q:\n%s", want, log.String())
		}
	}
	t.Logf("compress:\n%s", log.String())
	log.Reset()
	if err := runCmd([]string{"inspect", qzcPath}, &log); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(qzcPath)
	whole := fmt.Sprintf("whole file %.1f bit/s", 8*float64(st.Size())/7.1)
	for _, want := range []string{"qzc version 3", "audio signal; model test_mulaw", "113600 samples at 16000 Hz (7.100 s) × 1 channel",
		"coding: frame rate 16000 Hz, stages 1, bits_per_frame 8", "payload 128000.0 bit/s", whole,
		"WAV, 16-bit PCM, 16000 Hz, 1 channel(s), 113600 frames (7.100 s)", "channel mono"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("inspect printed no %q:\n%s", want, log.String())
		}
	}
	t.Logf("inspect:\n%s", log.String())
	log.Reset()
	if err := runCmd([]string{"decompress", qzcPath, back}, &log); err != nil {
		t.Fatal(err)
	}
	t.Logf("decompress:\n%s", log.String())
	got, err := wav.Read(back)
	if err != nil {
		t.Fatal(err)
	}
	if got.SampleRate != 16000 || got.Channels() != 1 || got.Frames() != src.Frames() {
		t.Fatalf("decompressed: %d Hz, %d channels, %d frames; source %d frames", got.SampleRate, got.Channels(), got.Frames(), src.Frames())
	}
	// 8-bit µ-law: about 38 dB on speech near full scale, less on a quiet recording.
	if r := snr(src.Samples[0], got.Samples[0]); !(r > 25) {
		t.Errorf("decompressed clip at %.1f dB SNR, want > 25", r)
	}

	// A 44.1 kHz stereo source: coded mono at 16 kHz, back at 16 kHz of the same duration.
	y, err := dsp.Resample(src.Samples[0], 16000, 44100)
	if err != nil {
		t.Fatal(err)
	}
	stereo := filepath.Join(dir, "stereo.wav")
	if err := wav.Write(stereo, &wav.Audio{SampleRate: 44100, Samples: [][]float32{y, y}}); err != nil {
		t.Fatal(err)
	}
	qzc2, back2 := filepath.Join(dir, "stereo.qzc"), filepath.Join(dir, "stereo-back.wav")
	if err := runCmd([]string{"compress", stereo, qzc2, "--checkpoint", run}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"decompress", qzc2, back2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	got2, err := wav.Read(back2)
	if err != nil {
		t.Fatal(err)
	}
	srcSec, gotSec := float64(len(y))/44100, got2.Seconds()
	if got2.SampleRate != 16000 || got2.Channels() != 1 || gotSec < srcSec || gotSec-srcSec >= 1.0/16000 {
		t.Fatalf("44.1 kHz stereo source of %.6f s came back at %d Hz, %d channels, %.6f s", srcSec, got2.SampleRate, got2.Channels(), gotSec)
	}
	if r := snr(src.Samples[0], got2.Samples[0]); !(r > 20) {
		t.Errorf("44.1 kHz round trip at %.1f dB SNR, want > 20", r)
	}
}

// TestAudioRefusals: damaged audio .qzc files, an audio file given to a gridded model and a
// gridded file to an audio model, each kind of .qzc decoded with the other kind's run, and
// segments of audio (whose front end writes it whole), are refused with an error naming the file and both kinds; nothing is written.
func TestAudioRefusals(t *testing.T) {
	audioRun := trainMulaw(t)
	spFile := filepath.Join(dataDir, "era5", "wam2layers", "era5__ERA5_2022-08-31_sp.nc")
	gridRun := t.TempDir()
	trainConfig(t, gridRun, `{"model": "vaeformer", "steps": 1, "batch_size": 2, "eval_batch_size": 2,
		"params": {`+dayArch+`, "era5_file": "`+spFile+`", "era5_variables": "sp", "era5_test_hours": 8, "era5_validation_hours": 0}}`)
	clip := datadir.File(t, clipFile)
	dir := t.TempDir()
	audioQzc, gridQzc := filepath.Join(dir, "clip.qzc"), filepath.Join(dir, "sp.qzc")
	if err := runCmd([]string{"compress", "--checkpoint", audioRun, clip, audioQzc}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"compress", "--checkpoint", gridRun, spFile, gridQzc}, io.Discard); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(audioQzc)
	truncated := filepath.Join(dir, "truncated.qzc")
	os.WriteFile(truncated, raw[:len(raw)-100], 0o644)
	flipped := filepath.Join(dir, "flipped.qzc")
	c := bytes.Clone(raw)
	c[len(c)-1000] ^= 0x10
	os.WriteFile(flipped, c, 0o644)
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"decompress", truncated, out}, []string{"truncated.qzc", "corrupt"}},
		{[]string{"decompress", flipped, out}, []string{"flipped.qzc", "checksum"}},
		{[]string{"inspect", truncated}, []string{"truncated.qzc", "corrupt"}},
		{[]string{"compress", "--checkpoint", gridRun, clip, out}, []string{filepath.Base(clip), "kind audio", "codes signals of kind gridded"}},
		{[]string{"compress", "--checkpoint", audioRun, spFile, out}, []string{filepath.Base(spFile), "kind gridded", "codes signals of kind audio"}},
		{[]string{"decompress", "--checkpoint", gridRun, audioQzc, out}, []string{"clip.qzc", "kind audio", "model test_mulaw", "model vaeformer", "kind gridded"}},
		{[]string{"decompress", "--checkpoint", audioRun, gridQzc, out}, []string{"sp.qzc", "kind gridded", "model vaeformer", "model test_mulaw", "kind audio"}},
		{[]string{"compress", "--checkpoint", audioRun, "--variables", "left", clip, out}, []string{"left", "mixdown"}},
		// WAV is read and written whole: no segments it could not write back.
		{[]string{"compress", "--checkpoint", audioRun, "--segment", "16000", clip, out}, []string{"segment length 16000", "audio signal is coded whole"}},
	} {
		err := runCmd(tc.args, io.Discard)
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.args, err, w)
			}
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Fatalf("%v: wrote %s despite the error", tc.args, out)
		}
	}
}
