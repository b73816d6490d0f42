package main

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/internal/datadir"

	"github.com/qzoo/qzoo/formats/netcdf"
	"github.com/qzoo/qzoo/formats/qzc"
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/framework/checkpoint"
	"github.com/qzoo/qzoo/metrics"
)

var dataDir = datadir.Root()

var ukFile = filepath.Join(dataDir, "era5", "era5-2mt-2019-03-uk.nc")

// trainTiny trains a small vaeformer run on the UK 2 m temperature for 40 steps.
func trainTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	trainTinyTo(t, dir, 40)
	return dir
}

// trainTinyTo trains (or resumes) the small run in dir up to steps and returns its result.
func trainTinyTo(t *testing.T, dir string, steps int) *framework.Result {
	t.Helper()
	return trainConfig(t, dir, `{"model": "vaeformer", "steps": `+strconv.Itoa(steps)+`, "batch_size": 4, "eval_batch_size": 4,
		"seed": 2, "learning_rate": 0.002, "checkpoint_every": 40, "keep_checkpoints": 3, "params": {"vaeformer_dim": 32, "vaeformer_heads": 2,
		"vaeformer_encoder_layers": 1, "vaeformer_decoder_layers": 1, "vaeformer_latent": 8,
		"vaeformer_hyper_latent": 4, "vaeformer_hyper_dim": 16, "era5_test_hours": 48, "era5_validation_hours": 24}}`)
}

// dayArch is the smallest vaeformer the tests train on a day of data (the wam2layers files).
const dayArch = `"vaeformer_dim": 16, "vaeformer_heads": 2, "vaeformer_encoder_layers": 1, "vaeformer_decoder_layers": 1,
	"vaeformer_latent": 4, "vaeformer_hyper_latent": 2, "vaeformer_hyper_dim": 8`

// trainConfig trains (or resumes) the run of the JSON config js in dir and returns its result.
func trainConfig(t *testing.T, dir, js string) *framework.Result {
	t.Helper()
	cfg, err := framework.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	res, err := framework.Run(cfg, framework.RunOptions{Dir: dir, DataDir: dataDir, Out: io.Discard, Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestDecompressAfterMoreTraining: a file stays decodable after its run trains on (its
// checkpoint is found among the run's), and the error says what happened once that checkpoint
// is gone.
func TestDecompressAfterMoreTraining(t *testing.T) {
	run := trainTiny(t)
	dir := t.TempDir()
	qzcPath, back := filepath.Join(dir, "uk.qzc"), filepath.Join(dir, "back.nc")
	// Flags after the file names work too.
	if err := runCmd([]string{"compress", ukFile, qzcPath, "--checkpoint", run}, io.Discard); err != nil {
		t.Fatal(err)
	}
	trainTinyTo(t, run, 50)
	if err := runCmd([]string{"decompress", qzcPath, back}, io.Discard); err != nil {
		t.Fatalf("after training on: %v", err)
	}
	old, _ := filepath.Glob(filepath.Join(run, checkpoint.FileName(40)))
	if len(old) != 1 {
		t.Fatalf("step-40 checkpoint: %v", old)
	}
	os.Remove(old[0])
	err := runCmd([]string{"decompress", qzcPath, filepath.Join(dir, "back2.nc")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no checkpoint with weights") || !strings.Contains(err.Error(), "50") {
		t.Fatalf("checkpoint gone: err %v", err)
	}
}

// TestLegacyRun: a run directory from before checkpoints had their own extension (its
// checkpoints named ckpt-*.qzc) and a compressed file of format version 1 (before signal
// kinds) still work: the file decompresses to exactly what its version 2 twin does, inspect
// reads it, the run evaluates and resumes, and the file still decompresses after.
func TestLegacyRun(t *testing.T) {
	run := trainTiny(t)
	dir := t.TempDir()
	current := filepath.Join(dir, "current.qzc")
	if err := runCmd([]string{"compress", "--checkpoint", run, ukFile, current}, io.Discard); err != nil {
		t.Fatal(err)
	}
	legacyCkpt := filepath.Join(run, "ckpt-0000000040"+checkpoint.LegacyExt)
	if err := os.Rename(filepath.Join(run, checkpoint.FileName(40)), legacyCkpt); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, "legacy.qzc")
	writeVersion1(t, current, legacy)
	var log bytes.Buffer
	if err := runCmd([]string{"inspect", legacy}, &log); err != nil || !strings.Contains(log.String(), "qzc version 1") ||
		!strings.Contains(log.String(), "gridded signal") {
		t.Fatalf("inspect of a version 1 file: %v\n%s", err, log.String())
	}
	backs := [2]string{filepath.Join(dir, "legacy.nc"), filepath.Join(dir, "current.nc")}
	for i, in := range []string{legacy, current} {
		if err := runCmd([]string{"decompress", in, backs[i]}, io.Discard); err != nil {
			t.Fatalf("decompress %s with a legacy-named checkpoint: %v", in, err)
		}
	}
	a, err := netcdf.Read(backs[0], netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := netcdf.Read(backs[1], netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Vars[0].Data, b.Vars[0].Data) || !slices.Equal(a.Time.Values, b.Time.Values) {
		t.Fatal("the version 1 file decompresses to other values than its version 2 twin")
	}
	metrics, _, step, err := framework.Evaluate(run, framework.RunOptions{DataDir: dataDir, Out: io.Discard})
	if err != nil || step != 40 || !(metrics["rmse_t2m"] > 0) {
		t.Fatalf("evaluating the legacy run: step %d, %v, %v", step, metrics, err)
	}
	res := trainTinyTo(t, run, 50)
	if !res.Resumed || res.Step != 50 {
		t.Fatalf("resuming the legacy run: resumed %v at step %d", res.Resumed, res.Step)
	}
	for _, p := range []string{legacyCkpt, filepath.Join(run, checkpoint.FileName(50))} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("after resuming: %v", err)
		}
	}
	if err := runCmd([]string{"decompress", legacy, filepath.Join(dir, "again.nc")}, io.Discard); err != nil {
		t.Fatalf("decompress after resuming: %v", err)
	}
}

// writeVersion1 writes the .qzc file in as format version 1 wrote it to out: the header's
// shape as "geometry", no "signal" nor "media"; the payload as it is.
func writeVersion1(t *testing.T, in, out string) {
	t.Helper()
	h, payload, _, err := qzc.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(map[string]any{"model": h.Model, "checkpoint": h.Checkpoint,
		"geometry": map[string]int{"T": h.Shape[0], "H": h.Shape[1], "W": h.Shape[2]}, "channels": h.Channels,
		"mean": h.Mean, "std": h.Std, "estimated_bits": h.EstimatedBits, "source": h.Source})
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(js)
	w.Close()
	b := append([]byte(qzc.Magic), 1, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(z.Len()))
	b = append(b, z.Bytes()...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(payload)))
	b = append(b, payload...)
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCompressDecompressInspect runs the three subcommands on the real ERA5 file: the .qzc file
// is small, its size is close to the model's estimate, inspect reads it back, and the
// decompressed netCDF-3 file holds the source's coordinates, attributes and packing, with
// values close to the source's; ncdump reads it.
func TestCompressDecompressInspect(t *testing.T) {
	run := trainTiny(t)
	out := t.TempDir()
	qzcPath, back := filepath.Join(out, "uk.qzc"), filepath.Join(out, "back.nc")
	var log bytes.Buffer
	if err := runCmd([]string{"compress", "--checkpoint", run, ukFile, qzcPath}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "payload vs the model's estimated bits") {
		t.Errorf("compress printed:\n%s", log.String())
	}
	st, err := os.Stat(qzcPath)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.Stat(ukFile)
	if st.Size() > src.Size()/4 {
		t.Errorf(".qzc file %d bytes, source %d: less than 4× smaller", st.Size(), src.Size())
	}
	log.Reset()
	if err := runCmd([]string{"inspect", qzcPath}, &log); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"checksum ok", "model vaeformer", "744 hours × 33 lat × 49 lon", "channel t2m"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("inspect printed no %q:\n%s", want, log.String())
		}
	}
	if err := runCmd([]string{"decompress", qzcPath, back}, io.Discard); err != nil {
		t.Fatal(err)
	}
	orig, err := netcdf.Read(ukFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := netcdf.Read(back, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != "netCDF-3" || len(got.Vars) != 1 || got.Vars[0].Name != "t2m" || got.Vars[0].Packing == nil ||
		got.Vars[0].Packing.ScaleFactor != orig.Vars[0].Packing.ScaleFactor || got.Vars[0].Units() != "K" {
		t.Fatalf("decompressed file: format %s, variables %v", got.Format, got.VariableNames())
	}
	for i, c := range [][2][]float64{{got.Lat.Values, orig.Lat.Values}, {got.Lon.Values, orig.Lon.Values}, {got.Time.Values, orig.Time.Values}} {
		if len(c[0]) != len(c[1]) || c[0][0] != c[1][0] || c[0][len(c[0])-1] != c[1][len(c[1])-1] {
			t.Fatalf("coordinate %d differs: %v… vs %v…", i, c[0][:2], c[1][:2])
		}
	}
	e, err := metrics.CompareFields(orig.Vars[0].Data, got.Vars[0].Data, orig.Vars[0].Shape, metrics.LatCosWeights(orig.Lat.Values))
	if err != nil {
		t.Fatal(err)
	}
	if !(e.RMSE < 2.3) || math.IsNaN(e.MaxAbs) {
		t.Errorf("decompressed t2m: RMSE %v K, max error %v K", e.RMSE, e.MaxAbs)
	}
	ncdump, err := exec.LookPath("ncdump")
	if err != nil {
		t.Fatalf("ncdump not found (apt-get install netcdf-bin; scripts/install-deps.sh does): %v", err)
	}
	if b, err := exec.Command(ncdump, "-h", back).CombinedOutput(); err != nil || !strings.Contains(string(b), `t2m:units = "K"`) ||
		!strings.Contains(string(b), "lossy reconstruction of era5-2mt-2019-03-uk.nc") {
		t.Errorf("ncdump -h %s: %v\n%s", back, err, b)
	}
}

// TestBadInputs: every bad input is one clear error naming the file (and variable), and
// nothing is written.
func TestBadInputs(t *testing.T) {
	run := trainTiny(t)
	dir := t.TempDir()
	// A file with a variable the model was not trained for, beside the one it was.
	f, err := netcdf.Read(ukFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	extra := *f.Vars[0]
	extra.Name = "d2m"
	f.Vars = append(f.Vars, &extra)
	twoVars := filepath.Join(dir, "two.nc")
	if err := netcdf.Write(twoVars, f); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.qzc")
	if err := runCmd([]string{"compress", "--checkpoint", run, ukFile, good}, io.Discard); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.qzc")
	os.WriteFile(truncated, raw[:len(raw)/2], 0o644)
	flipped := filepath.Join(dir, "flipped.qzc")
	c := bytes.Clone(raw)
	c[len(c)/2] ^= 1
	os.WriteFile(flipped, c, 0o644)
	text := filepath.Join(dir, "notes.nc")
	os.WriteFile(text, []byte("not netCDF\n"), 0o644)
	ckpts, _ := filepath.Glob(filepath.Join(run, "ckpt-*"+checkpoint.Ext))
	sameIn := filepath.Join(dir, "same.nc")
	if b, err := os.ReadFile(ukFile); err != nil || os.WriteFile(sameIn, b, 0o644) != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"compress", "--checkpoint", run, twoVars, out}, []string{"two.nc", "d2m", "t2m"}},
		{[]string{"compress", "--checkpoint", run, "--variables", "sp", ukFile, out}, []string{"sp"}},
		{[]string{"compress", "--checkpoint", run, text, out}, []string{"notes.nc"}},
		{[]string{"compress", "--checkpoint", run, filepath.Join(dir, "missing.nc"), out}, []string{"missing.nc"}},
		{[]string{"compress", "--checkpoint", dir, ukFile, out}, []string{dir}},
		{[]string{"compress", ukFile, out}, []string{"--checkpoint"}},
		{[]string{"decompress", truncated, out}, []string{"truncated.qzc", "corrupt"}},
		{[]string{"decompress", flipped, out}, []string{"flipped.qzc", "checksum"}},
		{[]string{"decompress", ckpts[0], out}, []string{"training checkpoint"}},
		{[]string{"inspect", text}, []string{"notes.nc", "bad magic"}},
		{[]string{"frobnicate"}, []string{"unknown subcommand"}},
		{[]string{"compress", "--checkpoint", run, sameIn, sameIn}, []string{"refusing to overwrite"}},
		{[]string{"decompress", good, good}, []string{"refusing to overwrite"}},
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
	if err := runCmd([]string{"help"}, io.Discard); err != nil {
		t.Errorf("help: %v", err)
	}
	// Choosing the model's variable makes the two-variable file compress.
	if err := runCmd([]string{"compress", "--checkpoint", run, "--variables", "t2m", twoVars, out}, io.Discard); err != nil {
		t.Errorf("--variables t2m: %v", err)
	}
}

// TestLevelChannels: a model of two pressure-level channels (u and v at 850 hPa, from two
// netCDF-4 files) codes those channels of a netCDF file holding both variables at 20 levels,
// chosen with --variables; the decompressed file holds the two variables at that one level.
// Without the choice, the levels the model does not know are refused by name.
func TestLevelChannels(t *testing.T) {
	wam := filepath.Join(dataDir, "era5", "wam2layers")
	uFile, vFile := filepath.Join(wam, "era5_pl__ERA5_2020-01-01_pl_u.nc"), filepath.Join(wam, "era5_pl__ERA5_2020-01-01_pl_v.nc")
	run := t.TempDir()
	res := trainConfig(t, run, `{"model": "vaeformer", "steps": 10, "batch_size": 2, "eval_batch_size": 2,
		"params": {`+dayArch+`, "era5_window": 4, "era5_file": "`+uFile+`,`+vFile+`", "era5_variables": "u@850,v@850",
		"era5_test_hours": 8, "era5_validation_hours": 0}}`)
	for _, k := range []string{"rmse_u@850", "rmse_v@850"} {
		if v, ok := res.Eval[k]; !ok || !(v > 0) {
			t.Fatalf("evaluation %s = %v (present %v)", k, v, ok)
		}
	}
	u, err := netcdf.Read(uFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := netcdf.Read(vFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Vars = append(u.Vars, v.Vars...)
	dir := t.TempDir()
	both := filepath.Join(dir, "uv.nc")
	if err := netcdf.Write(both, u); err != nil {
		t.Fatal(err)
	}
	qzcPath, back := filepath.Join(dir, "uv.qzc"), filepath.Join(dir, "back.nc")
	err = runCmd([]string{"compress", "--checkpoint", run, both, qzcPath}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "u@100") || !strings.Contains(err.Error(), "u@850, v@850") {
		t.Fatalf("all levels: err %v, want the unknown channel u@100 and the known ones named", err)
	}
	if err := runCmd([]string{"compress", "--checkpoint", run, "--variables", "u@850", both, qzcPath}, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "v@850") {
		t.Fatalf("one of two channels: err %v, want v@850 named as missing", err)
	}
	if err := runCmd([]string{"compress", "--checkpoint", run, "--variables", "u@850,v@850", both, qzcPath}, io.Discard); err != nil {
		t.Fatal(err)
	}
	// The two source files directly, flags last.
	if err := runCmd([]string{"compress", uFile, vFile, qzcPath, "--checkpoint", run, "--variables", "u@850,v@850"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"decompress", qzcPath, back}, io.Discard); err != nil {
		t.Fatal(err)
	}
	got, err := netcdf.Read(back, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Level == nil || len(got.Level.Values) != 1 || got.Level.Values[0] != 850 || len(got.Vars) != 2 ||
		got.Vars[0].Name != "u" || got.Vars[1].Name != "v" || got.Vars[0].Shape[1] != 1 {
		t.Fatalf("decompressed: level %v, variables %v", got.Level, got.VariableNames())
	}
	// The same two netCDF-4 files in segments of 8 hours (ranges of hours read from both files,
	// the levels written back hour by hour): the same values as coded whole.
	segPath, segBack := filepath.Join(dir, "uv8.qzc"), filepath.Join(dir, "back8.nc")
	if err := runCmd([]string{"compress", uFile, vFile, segPath, "--checkpoint", run, "--variables", "u@850,v@850", "--segment", "8"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"decompress", segPath, segBack}, io.Discard); err != nil {
		t.Fatal(err)
	}
	seg, err := netcdf.Read(segBack, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := qzc.Open(segPath); err != nil || r.Segments() != 3 {
		t.Fatalf("%s: %v segments (%v)", segPath, r, err)
	} else {
		r.Close()
	}
	for i := range got.Vars {
		if !slices.Equal(seg.Vars[i].Data, got.Vars[i].Data) || !slices.Equal(seg.Vars[i].Shape, got.Vars[i].Shape) {
			t.Errorf("%s coded in segments of 8 hours decodes to other values than coded whole", got.Vars[i].Name)
		}
	}
	names, data := netcdf.Channels(got)
	srcNames, srcData := netcdf.Channels(u)
	for i, n := range names {
		j := slices.Index(srcNames, n)
		e, err := metrics.CompareFields(srcData[j], data[i], []int{24, len(u.Lat.Values), len(u.Lon.Values)}, nil)
		if err != nil || !(e.RMSE < 20) {
			t.Errorf("%s: RMSE %v m/s (%v)", n, e.RMSE, err)
		}
	}
}

// TestNetCDF4Input: a netCDF-4 (HDF5) source file compresses directly and comes back as
// netCDF-3 with its packing and units.
func TestNetCDF4Input(t *testing.T) {
	spFile := filepath.Join(dataDir, "era5", "wam2layers", "era5__ERA5_2022-08-31_sp.nc")
	run := t.TempDir()
	trainConfig(t, run, `{"model": "vaeformer", "steps": 5, "batch_size": 2, "eval_batch_size": 2,
		"params": {`+dayArch+`, "era5_file": "`+spFile+`", "era5_variables": "sp", "era5_test_hours": 8, "era5_validation_hours": 0}}`)
	dir := t.TempDir()
	qzcPath, back := filepath.Join(dir, "sp.qzc"), filepath.Join(dir, "sp.nc")
	if err := runCmd([]string{"compress", "--checkpoint", run, spFile, qzcPath}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"decompress", qzcPath, back}, io.Discard); err != nil {
		t.Fatal(err)
	}
	src, err := netcdf.Read(spFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := netcdf.Read(back, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if src.Format != "netCDF-4" || got.Format != "netCDF-3" || got.Vars[0].Units() != "Pa" || got.Vars[0].Packing == nil ||
		len(got.Vars[0].Data) != len(src.Vars[0].Data) {
		t.Fatalf("source %s, decompressed %s: units %q, packing %v, %d of %d values", src.Format, got.Format,
			got.Vars[0].Units(), got.Vars[0].Packing, len(got.Vars[0].Data), len(src.Vars[0].Data))
	}
}

// TestCompressKnowsWhenItIsWrong: compress reports each channel's achieved RMSE and maximum
// error in its units; coding a field unlike the training data — a January dewpoint field over
// central Europe (wam2layers), named t2m for a model trained on the UK's March 2 m
// temperature — warns naming the variable and the statistic; --max_rmse refuses a missed
// bound, naming the variable and the achieved RMSE, and leaves no output behind.
func TestCompressKnowsWhenItIsWrong(t *testing.T) {
	run := trainTiny(t)
	dir := t.TempDir()
	var log bytes.Buffer
	if err := runCmd([]string{"compress", "--checkpoint", run, "--max_rmse", "2.3", ukFile, filepath.Join(dir, "uk.qzc")}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "t2m: achieved RMSE ") || !strings.Contains(log.String(), " K, max error ") ||
		!strings.Contains(log.String(), "(training mean 280.") || strings.Contains(log.String(), "warning") {
		t.Errorf("compressing the training file printed:\n%s", log.String())
	}
	d2m, err := netcdf.Read(filepath.Join(dataDir, "era5", "wam2layers", "era5_pl__ERA5_2020-01-01_d2m.nc"), netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d2m.Vars[0].Name = "t2m"
	unlike := filepath.Join(dir, "d2m-as-t2m.nc")
	if err := netcdf.Write(unlike, d2m); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if err := runCmd([]string{"compress", "--checkpoint", run, unlike, filepath.Join(dir, "d2m.qzc")}, &log); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"warning: out of the training distribution: t2m: its minimum 245.4 K is 15.", "training standard deviations (σ = 2.2", "K) below the training mean 280."} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("compressing a dewpoint field printed no %q:\n%s", want, log.String())
		}
	}
	out := filepath.Join(dir, "refused.qzc")
	log.Reset()
	err = runCmd([]string{"compress", "--checkpoint", run, "--max_rmse", "t2m=0.01", unlike, out}, &log)
	if err == nil || !strings.Contains(err.Error(), "t2m achieved RMSE ") || !strings.Contains(err.Error(), "K > the bound 0.01 K") {
		t.Errorf("a missed bound: %v", err)
	}
	if !strings.Contains(log.String(), "t2m: achieved RMSE") {
		t.Errorf("a refused compression printed no errors:\n%s", log.String())
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused compression left %s: %v", out, err)
	}
	for _, bad := range []string{"-1", "d2m=1"} {
		if err := runCmd([]string{"compress", "--checkpoint", run, "--max_rmse", bad, unlike, out}, io.Discard); err == nil {
			t.Errorf("--max_rmse %s accepted", bad)
		}
	}
}

// TestConstantChannel: a channel constant over the training hours (specific humidity at 20
// model-level number in the wam2layers file, one packed value for the whole day) trains,
// normalised with a standard deviation of a thousandth of its mean, and comes back within
// that scale beside a varying channel.
func TestConstantChannel(t *testing.T) {
	qFile := filepath.Join(dataDir, "era5", "wam2layers", "era5__ERA5_2022-08-31_ml_q.nc")
	run := t.TempDir()
	trainConfig(t, run, `{"model": "vaeformer", "steps": 5, "batch_size": 2, "eval_batch_size": 2,
		"params": {`+dayArch+`, "era5_window": 4, "era5_file": "`+qFile+`", "era5_variables": "q@20,q@137",
		"era5_test_hours": 8, "era5_validation_hours": 0}}`)
	dir := t.TempDir()
	qzcPath, back := filepath.Join(dir, "q.qzc"), filepath.Join(dir, "back.nc")
	if err := runCmd([]string{"compress", "--checkpoint", run, "--variables", "q@20,q@137", qFile, qzcPath}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := runCmd([]string{"decompress", qzcPath, back}, io.Discard); err != nil {
		t.Fatal(err)
	}
	src, err := netcdf.Read(qFile, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := netcdf.Read(back, netcdf.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srcNames, srcData := netcdf.Channels(src)
	names, data := netcdf.Channels(got)
	i, j := slices.Index(srcNames, "q@20"), slices.Index(names, "q@20")
	if i < 0 || j < 0 {
		t.Fatalf("q@20 in the source %v, decompressed %v", srcNames, names)
	}
	mean := float64(srcData[i][0])
	e, err := metrics.CompareFields(srcData[i], data[j], []int{24, len(src.Lat.Values), len(src.Lon.Values)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 5 steps train little: the bound is ten normalisation scales plus the output's packing step.
	bound := 10*1e-3*math.Abs(mean) + got.Vars[0].Packing.ScaleFactor
	t.Logf("q@20 = %g kg/kg: max error %g, bound %g (packing step %g)", mean, e.MaxAbs, bound, got.Vars[0].Packing.ScaleFactor)
	if !(e.MaxAbs <= bound) {
		t.Errorf("q@20 (constant %g kg/kg): max error %g, want ≤ %g", mean, e.MaxAbs, bound)
	}
}
