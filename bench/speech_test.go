package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/baselines/speech"
	"github.com/qzoo/qzoo/compressor"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/internal/gainmodel"
	"github.com/qzoo/qzoo/media"
)

// The test's speech codec, "bench_test_envelope": one byte per 20 ms frame, the frame's level
// in dB (−90 to 0 over 0–255), decoded as white noise of that level — 400 bit/s of a signal
// with no words in it, so that Codec2 700C (800 bit/s in a file) must beat it. It trains one
// scalar for a step only so that a run directory with a checkpoint exists.
const (
	envelopeModel = "bench_test_envelope"
	envelopeFrame = 320 // samples at 16 kHz
)

func init() {
	gainmodel.Register(envelopeModel, "a frame's level as one byte, decoded as noise (speech benchmark test)")
	compressor.Register(envelopeModel, func(*framework.Config, *model.Store) (compressor.Compressor, error) { return envelope{}, nil })
}

// envelope is the test's speech compressor.
type envelope struct{}

func (envelope) Kind() qzc.Kind                       { return qzc.Audio }
func (envelope) Channels() []string                   { return []string{"mono"} }
func (envelope) Normalisation() (mean, std []float64) { return nil, nil }
func (envelope) Close()                               {}
func (envelope) Coding() map[string]float64 {
	return map[string]float64{qzc.CodingFrameRate: 16000 / envelopeFrame, qzc.CodingStages: 1}
}

func (envelope) Encode(s media.Signal) ([]byte, float64, error) {
	if s.SampleRate != 16000 || len(s.Data) != 1 {
		return nil, 0, fmt.Errorf("%s: codes one channel at 16000 Hz, got %d at %d Hz", envelopeModel, len(s.Data), s.SampleRate)
	}
	x := s.Data[0]
	out := make([]byte, (len(x)+envelopeFrame-1)/envelopeFrame)
	for f := range out {
		var e float64
		frame := x[f*envelopeFrame : min(len(x), (f+1)*envelopeFrame)]
		for _, v := range frame {
			e += float64(v) * float64(v)
		}
		db := 10 * math.Log10(max(e/float64(len(frame)), 1e-9))
		out[f] = byte(math.Round(math.Max(0, math.Min(255, (db+90)/90*255))))
	}
	return out, 8 * float64(len(out)), nil
}

func (envelope) Decode(payload []byte, shape []int) (media.Signal, error) {
	if len(shape) != 1 || len(payload) != (shape[0]+envelopeFrame-1)/envelopeFrame {
		return media.Signal{}, fmt.Errorf("%s: %d bytes for shape %v", envelopeModel, len(payload), shape)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, shape[0])
	for i := range x {
		rms := math.Pow(10, (float64(payload[i/envelopeFrame])/255*90-90)/20)
		x[i] = float32(rms * math.Sqrt(3) * (2*rng.Float64() - 1))
	}
	return media.Signal{Kind: qzc.Audio, Channels: []string{"mono"}, Shape: shape, Data: [][]float32{x}, SampleRate: 16000}, nil
}

// TestSpeechTable runs the benchmark on two held-out clips with a trained run of the test's
// codec, two Codec2 modes and the band-limited control: the rows come sorted by payload bit
// rate with the run's real file sizes, the goal check finds Codec2 700C and says the noise
// falls short of it, and the JSON report holds the same table. With -short off pocketsphinx
// scores the words too.
func TestSpeechTable(t *testing.T) {
	run := filepath.Join(t.TempDir(), "envelope")
	cfg, err := framework.ParseConfig([]byte(`{"model": "` + envelopeModel + `", "steps": 1, "batch_size": 2, "eval_batch_size": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := framework.Run(cfg, framework.RunOptions{Dir: run, Out: io.Discard, Quiet: true}); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(t.TempDir(), "speech.json")
	var out bytes.Buffer
	o := speechOptions{Runs: []string{run}, DataDir: sharedDataDir, Peers: []string{"codec2-1200", "codec2-700C", "original-4kHz"},
		Clips: 2, Repeats: 1, Threads: 2, NoWER: testing.Short(), JSONPath: jsonPath}
	report, err := runSpeech(o, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	table := report.Details.(*speech.Table)
	var names []string
	for _, r := range table.Rows {
		names = append(names, r.Codec)
	}
	want := []string{"original-4kHz", filepath.Base(run), "codec2-700C", "codec2-1200"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("rows %v, want %v (by payload bit rate)", names, want)
	}
	r := table.Rows[1]
	if r.Kind != speech.KindLearned || r.Coding[qzc.CodingFrameRate] != 50 || len(r.Clips) != 2 {
		t.Errorf("run row: kind %s, coding %v, %d clips", r.Kind, r.Coding, len(r.Clips))
	}
	// One byte per 20 ms frame, rounded up per clip: just above 400 bit/s; the .qzc header
	// adds its own bits to the whole file's rate.
	if r.PayloadBitRate < 400 || r.PayloadBitRate > 410 || !(r.FileBitRate > r.PayloadBitRate+100) {
		t.Errorf("run: payload %.1f bit/s, file %.1f bit/s", r.PayloadBitRate, r.FileBitRate)
	}
	if len(table.Goals) != 1 || table.Goals[0].Codec2 != "codec2-700C" || table.Goals[0].Beats || !(table.Goals[0].STOI < table.Goals[0].Codec2STOI) {
		t.Errorf("goals %+v, want the noise to fall short of codec2-700C", table.Goals)
	}
	for _, line := range []string{"| codec2-1200 | 1208 | 1208 |", "| original |", "falls short of codec2-700C", "machine:"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output has no %q", line)
		}
	}
	if !testing.Short() && (table.Words == 0 || table.Transcribed != 2 || table.Rows[3].Words != table.Words) {
		t.Errorf("word error rates not measured: %d words on %d clips", table.Words, table.Transcribed)
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Benchmark string }
	if err := json.Unmarshal(b, &back); err != nil || back.Benchmark != BenchSpeech {
		t.Errorf("JSON report: benchmark %q, %v", back.Benchmark, err)
	}
	read, err := speech.ReadTable(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(read.Rows) != 4 || read.Rows[2].STOI != table.Rows[2].STOI || len(read.Goals) != 1 || read.Rows[1].Coding[qzc.CodingFrameRate] != 50 {
		t.Errorf("table read back: %+v", read)
	}
	if _, err := speech.ReadTable(filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("ReadTable of a missing file: no error")
	}
}

// TestSpeechFromRedraws: --from reads a report's table back, prints it and draws its figure
// (PNG and SVG) without measuring; with --run or --json it refuses.
func TestSpeechFromRedraws(t *testing.T) {
	dir := t.TempDir()
	table := &speech.Table{Clips: []string{"a"}, Rows: []speech.Row{
		{Codec: "codec2-1200", Kind: speech.KindPeer, PayloadBitRate: 1200, FileBitRate: 1208, STOI: 0.8, LogMelDistance: 1.2},
		{Codec: "codec2-3200", Kind: speech.KindPeer, PayloadBitRate: 3200, FileBitRate: 3208, STOI: 0.85, LogMelDistance: 1.1},
	}}
	b, err := json.Marshal(map[string]any{"benchmark": BenchSpeech, "details": table})
	if err != nil {
		t.Fatal(err)
	}
	from := filepath.Join(dir, "speech.json")
	if err := os.WriteFile(from, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runSpeechCommand([]string{"--from", from, "--figure", filepath.Join(dir, "speech.png")}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| codec2-1200 | 1208 | 1200 |") {
		t.Errorf("the table is not printed:\n%s", out.String())
	}
	for _, name := range []string{"speech.png", "speech.svg"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	for _, args := range [][]string{{"--from", from, "--run", dir}, {"--from", from, "--json", filepath.Join(dir, "x.json")}} {
		if err := runSpeechCommand(args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--from redraws") {
			t.Errorf("%v: %v, want a refusal", args, err)
		}
	}
}

func TestSpeechPeersByName(t *testing.T) {
	ps, err := speechPeers([]string{"opus-12k", "codec2-700C"})
	if err != nil || len(ps) != 2 || ps[0].Name() != "opus-12k" {
		t.Errorf("peers %v, %v", ps, err)
	}
	if _, err := speechPeers([]string{"codec2-999"}); err == nil || !strings.Contains(err.Error(), "codec2-1600") {
		t.Errorf("unknown peer: %v", err)
	}
	if ps, err := speechPeers(nil); err != nil || len(ps) != len(speech.Peers())+1 {
		t.Errorf("all peers: %d, %v", len(ps), err)
	}
	if err := runSpeechCommand([]string{"--peers", "none"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "nothing to measure") {
		t.Errorf("no codec: %v", err)
	}
}
