package baselines

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/qzoo/qzoo/metrics"
)

// Python is the interpreter that runs ZFP: Debian's, which python3-zfpy installs into (a
// pyenv or virtualenv python3 earlier on PATH usually lacks it).
var Python = "/usr/bin/python3"

//go:embed zfp.py
var zfpScript string

// zfpInstallHint ends every error that means "zfpy is not there".
const zfpInstallHint = "ZFP needs numpy and zfpy for %s: apt-get install python3-zfpy (scripts/install-deps.sh installs it)"

// ZFPAvailable returns nil if [Python] can import zfpy and numpy, and otherwise an error that
// says to apt-get install python3-zfpy.
func ZFPAvailable() error {
	out, err := exec.Command(Python, "-c", "import numpy, zfpy").CombinedOutput()
	if err != nil {
		return fmt.Errorf("baselines: %s: %v %s; "+zfpInstallHint, Python, err, strings.TrimSpace(string(out)), Python)
	}
	return nil
}

// ZFPResult is one fixed-accuracy ZFP run over a whole array.
type ZFPResult struct {
	Tolerance float64 // ZFP's absolute error bound, in the array's units
	Bytes     int     // compressed bytes, zfpy's header (shape, type, mode) included
	// EncodeSeconds and DecodeSeconds are the time of zfpy.compress_numpy and
	// zfpy.decompress_numpy alone (ZFP's C library and the binding), not of the pipe to Python.
	EncodeSeconds, DecodeSeconds float64
	Recon                        []float32 // the reconstruction, the input's length and layout
}

// ZFPCompress compresses x, a row-major float32 array of the given shape (1 to 4 dimensions,
// e.g. [T, H, W]), with ZFP in fixed-accuracy mode once per tolerance, and decompresses it
// again. With perSlice false the array is compressed whole, so ZFP's 4×4×4 blocks exploit
// all three dimensions (time, latitude, longitude); with perSlice true each 2-D slice over
// the last two axes is compressed on its own (bytes and times summed over slices).
// ZFP bounds the error of every value by the tolerance. It returns an error for a shape that
// does not match len(x), for NaN or ±Inf in x (ZFP does not define them), for tolerances that
// are not finite and > 0, and, saying to apt-get install python3-zfpy, when zfpy is missing.
func ZFPCompress(x []float32, shape []int, tolerances []float64, perSlice bool) ([]ZFPResult, error) {
	if len(shape) < 1 || len(shape) > 4 || (perSlice && len(shape) < 2) {
		return nil, fmt.Errorf("baselines: ZFP of shape %v: want 1 to 4 dimensions (2 to 4 per slice)", shape)
	}
	size := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		if d < 1 {
			return nil, fmt.Errorf("baselines: ZFP of shape %v: dimensions must be ≥ 1", shape)
		}
		size *= d
		dims[i] = strconv.Itoa(d)
	}
	if size != len(x) {
		return nil, fmt.Errorf("baselines: ZFP of shape %v (%d values) given %d values", shape, size, len(x))
	}
	if len(tolerances) == 0 {
		return nil, nil
	}
	tols := make([]string, len(tolerances))
	for i, t := range tolerances {
		if !(t > 0) || math.IsInf(t, 0) {
			return nil, fmt.Errorf("baselines: ZFP tolerance %v, want finite and > 0", t)
		}
		tols[i] = strconv.FormatFloat(t, 'g', -1, 64)
	}
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("baselines: ZFP cannot compress %v (value %d)", v, i)
		}
	}
	mode := "whole"
	if perSlice {
		mode = "slices"
	}
	cmd := exec.Command(Python, "-c", zfpScript, mode, strings.Join(dims, ","), strings.Join(tols, ","))
	cmd.Stdin = bytes.NewReader(float32Bytes(x))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("baselines: ZFP: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("baselines: start %s: %v; "+zfpInstallHint, Python, err, Python)
	}
	results, readErr := readZFPResults(bufio.NewReader(stdout), len(x), len(tolerances))
	if readErr != nil {
		_, _ = io.Copy(io.Discard, stdout) // let Python finish writing, so Wait returns
	}
	if err := cmd.Wait(); err != nil {
		if exitErr := (*exec.ExitError)(nil); errors.As(err, &exitErr) && exitErr.ExitCode() == 3 {
			return nil, fmt.Errorf("baselines: %s; "+zfpInstallHint, strings.TrimSpace(stderr.String()), Python)
		}
		return nil, fmt.Errorf("baselines: ZFP script: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	if readErr != nil {
		return nil, readErr
	}
	return results, nil
}

// readZFPResults reads what zfp.py writes per tolerance: a JSON line, then n float32s.
func readZFPResults(r *bufio.Reader, n, count int) ([]ZFPResult, error) {
	results := make([]ZFPResult, count)
	raw := make([]byte, 4*n)
	for i := range results {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("baselines: ZFP result %d of %d: %w", i+1, count, err)
		}
		var head struct {
			Tolerance float64 `json:"tolerance"`
			Bytes     int     `json:"bytes"`
			EncodeS   float64 `json:"encode_s"`
			DecodeS   float64 `json:"decode_s"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("baselines: ZFP result %d: %w", i+1, err)
		}
		if _, err := io.ReadFull(r, raw); err != nil {
			return nil, fmt.Errorf("baselines: ZFP reconstruction %d: %w", i+1, err)
		}
		results[i] = ZFPResult{Tolerance: head.Tolerance, Bytes: head.Bytes,
			EncodeSeconds: head.EncodeS, DecodeSeconds: head.DecodeS, Recon: bytesFloat32(raw)}
	}
	return results, nil
}

// ZFP runs [ZFPCompress] on the whole array (method "zfp") and returns one [Point] per
// tolerance, its errors computed by [metrics.CompareFields] with all latitude rows weighted
// alike (so LatRMSE = RMSE; [Sweep] passes latitude weights). x is row-major of the given shape,
// e.g. [T, H, W]; errors as ZFPCompress's.
func ZFP(x []float32, shape []int, tolerances []float64) ([]Point, error) {
	return zfpPoints(x, shape, tolerances, false, false, nil)
}

// zfpPoints runs ZFP on x, or with demean on x minus its mean ([Demean]: the mean's 4 bytes
// counted, its subtraction and addition timed in Go and added to zfpy's times), and measures
// each reconstruction against x.
func zfpPoints(x []float32, shape []int, tolerances []float64, perSlice, demean bool, latWeights []float64) ([]Point, error) {
	in, mean, side := x, float32(0), 0
	start := time.Now()
	if demean {
		in, mean = Demean(x)
		side = demeanSideBytes
	}
	demeanSeconds := time.Since(start).Seconds()
	results, err := ZFPCompress(in, shape, tolerances, perSlice)
	if err != nil {
		return nil, err
	}
	method := MethodZFP
	if perSlice {
		method = MethodZFP2D
	}
	if demean {
		method = DemeanMethod(method)
	}
	fieldShape := shape
	if len(shape) == 1 {
		fieldShape = []int{1, shape[0]}
	}
	points := make([]Point, len(results))
	for i, r := range results {
		recon, remeanSeconds := r.Recon, 0.0
		if demean {
			start := time.Now()
			recon = Remean(r.Recon, mean)
			remeanSeconds = time.Since(start).Seconds()
		}
		errs, err := metrics.CompareFields(x, recon, fieldShape, latWeights)
		if err != nil {
			return nil, err
		}
		points[i] = NewPoint(method, "tolerance="+strconv.FormatFloat(r.Tolerance, 'g', 4, 64), r.Bytes+side, len(x), errs,
			r.EncodeSeconds+demeanSeconds, r.DecodeSeconds+remeanSeconds)
	}
	return points, nil
}
