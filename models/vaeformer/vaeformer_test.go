package vaeformer_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/metrics"
	"github.com/qzoo/qzoo/models/vaeformer"
)

// dataDir is the shared data directory, relative to this package.
var dataDir = datadir.Root()

var ukFile = filepath.Join(dataDir, "era5", "era5-2mt-2019-03-uk.nc")

// tinyJS is a small, fast vaeformer run on the UK 2 m temperature: 40 steps.
const tinyJS = `{"model": "vaeformer", "steps": 40, "batch_size": 4, "eval_batch_size": 4, "eval_split": "test",
	"seed": 3, "learning_rate": 0.002, "params": {"vaeformer_dim": 32, "vaeformer_heads": 2,
	"vaeformer_encoder_layers": 1, "vaeformer_decoder_layers": 1, "vaeformer_latent": 8,
	"vaeformer_hyper_latent": 4, "vaeformer_hyper_dim": 16, "era5_test_hours": 48, "era5_validation_hours": 24}}`

var (
	tinyOnce sync.Once
	tinyDir  string
	tinyRes  *framework.Result
	tinyErr  error
)

// tinyRun trains the tiny run once per test binary and returns its directory and result.
func tinyRun(t testing.TB) (string, *framework.Result) {
	t.Helper()
	tinyOnce.Do(func() {
		cfg, err := framework.ParseConfig([]byte(tinyJS))
		if err != nil {
			tinyErr = err
			return
		}
		tinyDir, err = os.MkdirTemp("", "vaeformer-test-")
		if err != nil {
			tinyErr = err
			return
		}
		tinyRes, tinyErr = framework.Run(cfg, framework.RunOptions{Dir: tinyDir, DataDir: dataDir, Out: io.Discard, Quiet: true})
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyDir, tinyRes
}

func TestMain(m *testing.M) {
	code := m.Run()
	if tinyDir != "" {
		os.RemoveAll(tinyDir)
	}
	os.Exit(code)
}

// TestTrainAndEvaluate: the run trains through framework.Run, calibrates the normalisation on
// the training hours, and its evaluation codes the held-out hours with the real entropy coder:
// the payload is within 3% of the model's estimated bits, and the reconstruction error is
// far below the field's own spread.
func TestTrainAndEvaluate(t *testing.T) {
	_, res := tinyRun(t)
	e := res.Eval
	for _, k := range []string{"bits_per_value", "estimated_bits_per_value", "rmse_t2m", "lat_rmse_t2m", "max_abs_t2m",
		"ratio_float32", "ratio_source", "encode_mbps", "decode_mbps", "payload_vs_estimate"} {
		if v, ok := e[k]; !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("metric %s = %v (present %v)", k, v, ok)
		}
	}
	if math.Abs(e["payload_vs_estimate"]) > 0.03 {
		t.Errorf("payload differs from the estimated bits by %.2f%%", 100*e["payload_vs_estimate"])
	}
	if !(e["rmse_t2m"] < 2.3) || !(e["max_abs_t2m"] >= e["rmse_t2m"]) {
		t.Errorf("rmse %v K (field std ≈ 2.3 K), max abs %v K", e["rmse_t2m"], e["max_abs_t2m"])
	}
	if math.Abs(e["ratio_float32"]-32/e["bits_per_value"]) > 1e-9 {
		t.Errorf("ratio_float32 %v inconsistent with %v bits per value", e["ratio_float32"], e["bits_per_value"])
	}
}

// testFields returns the UK file's last hours of t2m [1][T·H·W] and their geometry.
func testFields(t *testing.T, hours int) ([][]float32, vaeformer.Geometry, []float64) {
	t.Helper()
	f, err := netcdf.Read(ukFile, netcdf.ReadOptions{Variables: []string{"t2m"}})
	if err != nil {
		t.Fatal(err)
	}
	h, w := len(f.Lat.Values), len(f.Lon.Values)
	data := f.Vars[0].Data
	return [][]float32{data[len(data)-hours*h*w:]}, vaeformer.Geometry{T: hours, H: h, W: w}, f.Lat.Values
}

// TestCodecDeterministicRoundTrip: compressing twice gives the same bytes, decompressing twice
// the same fields; an hour count that is not a multiple of the window codes and decodes; the
// reconstruction error of the decoded fields is finite and small.
func TestCodecDeterministicRoundTrip(t *testing.T) {
	dir, _ := tinyRun(t)
	c, err := vaeformer.LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fields, g, lat := testFields(t, 37) // 37 = 9 windows of 4 + 1 hour
	p1, st, err := c.Compress(fields, g)
	if err != nil {
		t.Fatal(err)
	}
	p2, _, err := c.Compress(fields, g)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1, p2) {
		t.Fatal("two compressions of the same fields differ")
	}
	if d := 8*float64(len(p1))/st.EstimatedBits - 1; math.Abs(d) > 0.03 {
		t.Errorf("payload %d bytes vs %.0f estimated bits: %+.2f%%", len(p1), st.EstimatedBits, 100*d)
	}
	r1, _, err := c.Decompress(p1, g)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := c.Decompress(p1, g)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r1[0], r2[0]) {
		t.Fatal("two decompressions differ")
	}
	e, err := metrics.CompareFields(fields[0], r1[0], []int{g.T, g.H, g.W}, metrics.LatCosWeights(lat))
	if err != nil {
		t.Fatal(err)
	}
	if !(e.RMSE < 2.3) {
		t.Errorf("round-trip RMSE %v K", e.RMSE)
	}
	// The wrong channel count and non-finite values are refused.
	if _, _, err := c.Compress([][]float32{fields[0], fields[0]}, g); err == nil {
		t.Error("two channels accepted by a one-channel model")
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		bad := [][]float32{slices.Clone(fields[0])}
		bad[0][5] = float32(v)
		if _, _, err := c.Compress(bad, g); err == nil {
			t.Errorf("%v accepted", v)
		}
	}
}

// TestCodecMatchesReference: the pipelined codec (chunks of 3 or 4 windows, h_s in parallel,
// the entropy coder beside the backend) writes the same bytes, estimates the same bits and
// decodes the same values as the former one (ReferenceCompress and ReferenceDecompress, fixed
// chunks of 8 on one goroutine), for fields of 1 to 21 windows (one call, several calls of 3
// or 4 with and without padding, a last window cut short).
func TestCodecMatchesReference(t *testing.T) {
	dir, _ := tinyRun(t)
	c, err := vaeformer.LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, hours := range []int{3, 32, 37, 48, 76, 84} {
		fields, g, _ := testFields(t, hours)
		want, wantSt, err := c.ReferenceCompress(fields, g)
		if err != nil {
			t.Fatal(err)
		}
		got, st, err := c.Compress(fields, g)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d hours: payload of %d bytes differs from the reference's %d bytes", hours, len(got), len(want))
		}
		if st.YBits != wantSt.YBits || st.ZBits != wantSt.ZBits {
			t.Errorf("%d hours: estimated bits y %v z %v, reference y %v z %v", hours, st.YBits, st.ZBits, wantSt.YBits, wantSt.ZBits)
		}
		wantX, err := c.ReferenceDecompress(want, g)
		if err != nil {
			t.Fatal(err)
		}
		x, _, err := c.Decompress(got, g)
		if err != nil {
			t.Fatal(err)
		}
		for ch := range x {
			if !slices.Equal(x[ch], wantX[ch]) {
				t.Fatalf("%d hours: channel %d decodes to other values than the reference's", hours, ch)
			}
		}
	}
}

// TestCorruptPayload: truncations and byte flips of a payload are refused with an error
// wrapping ErrCorrupt, or decode to something (rANS cannot detect every flip) — never a panic.
func TestCorruptPayload(t *testing.T) {
	dir, _ := tinyRun(t)
	c, err := vaeformer.LoadCodec(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fields, g, _ := testFields(t, 8)
	p, _, err := c.Compress(fields, g)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, n := range []int{0, 1, 2, len(p) / 2, len(p) - 1} {
		if _, _, err := c.Decompress(p[:n], g); !errors.Is(err, vaeformer.ErrCorrupt) {
			t.Errorf("truncated to %d of %d bytes: %v", n, len(p), err)
		} else {
			refused++
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 40 {
		q := bytes.Clone(p)
		q[rng.IntN(len(q))] ^= byte(1 + rng.IntN(255))
		if _, _, err := c.Decompress(q, g); err != nil && !errors.Is(err, vaeformer.ErrCorrupt) {
			t.Errorf("flip: error does not wrap ErrCorrupt: %v", err)
		}
	}
}

// FuzzDecompress: arbitrary payloads never panic the decoder; errors wrap ErrCorrupt.
func FuzzDecompress(f *testing.F) {
	dir, _ := tinyRun(f)
	c, err := vaeformer.LoadCodec(dir)
	if err != nil {
		f.Fatal(err)
	}
	g := vaeformer.Geometry{T: 4, H: 9, W: 10}
	fields := [][]float32{make([]float32, 4*9*10)}
	for i := range fields[0] {
		fields[0][i] = 275 + float32(i%17)/4
	}
	p, _, err := c.Compress(fields, g)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, _, err := c.Decompress(data, g); err != nil && !errors.Is(err, vaeformer.ErrCorrupt) {
			t.Fatalf("error does not wrap ErrCorrupt: %v", err)
		}
	})
}

// TestGoEntropyModelMatchesGraph: the Go hyper-synthesis the decoder relies on computes what
// the trained graph's HyperSynthesis computes.
func TestGoEntropyModelMatchesGraph(t *testing.T) {
	dir, _ := tinyRun(t)
	cfg, store, _, err := framework.LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	em, err := vaeformer.NewEntropyModel(store, cfg.Params)
	if err != nil {
		t.Fatal(err)
	}
	backend, _, err := framework.NewBackend()
	if err != nil {
		t.Fatal(err)
	}
	const n, mh, mw, nh, nw = 2, 3, 4, 5, 7
	cz, cy := cfg.Params[vaeformer.ParamHyperLatent].(int), cfg.Params[vaeformer.ParamLatent].(int)
	rng := rand.New(rand.NewPCG(1, 2))
	z := make([]int, n*mh*mw*cz)
	zf := make([]float32, len(z))
	for i := range z {
		z[i] = rng.IntN(7) - 3
		zf[i] = float32(z[i])
	}
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
		m, s := vaeformer.HyperSynthesis(scope, x, nh, nw)
		return []*graph.Node{m, s}
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Exec(tensors.FromFlatDataAndDimensions(zf, n, mh, mw, cz))
	if err != nil {
		t.Fatal(err)
	}
	gm, gs := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1])
	m, s := em.HyperSynthesis(z, n, mh, mw, nh, nw)
	if len(m) != n*nh*nw*cy || len(gm) != len(m) {
		t.Fatalf("sizes %d, %d, want %d", len(m), len(gm), n*nh*nw*cy)
	}
	for i := range m {
		if math.Abs(m[i]-float64(gm[i])) > 1e-3*(1+math.Abs(m[i])) || math.Abs(s[i]-float64(gs[i])) > 1e-3*(1+s[i]) {
			t.Fatalf("element %d: Go mean %v scale %v, graph %v %v", i, m[i], s[i], gm[i], gs[i])
		}
	}
}
