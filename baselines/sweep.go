package baselines

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/qzoo/qzoo/metrics"
)

// Method names of [Point]; [BitRoundMethod] and [LinearPackMethod] name the others.
const (
	MethodBitRoundZstd    = "bitround+shuffle+zstd"
	MethodBitRoundZstd19  = "bitround+shuffle+zstd19"
	MethodBitRoundDeflate = "bitround+shuffle+deflate"
	MethodLinearPack      = "linear-pack"
	MethodLinearPackZstd  = "linear-pack+zstd"
	MethodZFP             = "zfp"    // fixed accuracy, the array compressed whole ([T, H, W] as 3-D)
	MethodZFP2D           = "zfp-2d" // fixed accuracy, each [H, W] slice on its own
)

// DemeanMethod is the name of method run on the field minus its mean ([Demean]): the mean is
// subtracted before coding and added back after decoding, and its four bytes (a float32)
// count as side information. On a field far from zero (2 m temperature: ~280 K, a few K of
// variation) both bit-rounding, whose error scales with the magnitude of each value, and
// ZFP, whose block-floating-point transform spends bit planes on the common offset, need
// fewer bits at the same error on the anomaly.
func DemeanMethod(method string) string { return "demean+" + method }

// demeanSideBytes is what a demeaned method stores beside its stream: the mean as float32.
const demeanSideBytes = 4

// BitRoundMethod is the name of bit-rounding + shuffle followed by coder.
func BitRoundMethod(coder string) string { return "bitround+shuffle+" + coder }

// LinearPackMethod is the name of linear packing followed by coder, or of packing alone for "".
func LinearPackMethod(coder string) string {
	if coder == "" {
		return MethodLinearPack
	}
	return MethodLinearPack + "+" + coder
}

// linearSideBytes is what linear packing stores beside its payload: offset and scale as float64.
const linearSideBytes = 16

// Point is one rate–distortion point of one method on one array.
type Point struct {
	Method  string // a Method* constant, BitRoundMethod(coder), LinearPackMethod(coder), or a codec's own name
	Setting string // e.g. "keepbits=7", "bits=12", "tolerance=0.25"
	// Bytes is everything a decoder needs besides the array's shape: the compressed stream
	// with its own header (zstd's frame header, zfpy's header), plus offset and scale (16
	// bytes) for linear packing, plus the mean (4 bytes) for a demeaned method
	// ([DemeanMethod]); for a learned codec, its whole file.
	Bytes        int
	BitsPerValue float64 // 8·Bytes / number of values
	Ratio        float64 // 32 / BitsPerValue: the compression ratio against float32
	Errors       metrics.FieldErrors
	// EncodeMBps and DecodeMBps are MB/s of float32 input (1 MB = 1e6 bytes, 4 bytes a value),
	// from the fastest of SweepOptions.Repeats runs. Go methods are timed in-process from the
	// float32s to the stream and back; ZFP is timed inside Python around zfpy's calls alone.
	EncodeMBps, DecodeMBps float64
}

// NewPoint makes the Point of a method that coded n values into nBytes bytes with errors errs,
// encoding in encodeSeconds and decoding in decodeSeconds: a learned codec's row of the same
// table ([WriteTable], [AtRMSE]).
func NewPoint(method, setting string, nBytes, n int, errs metrics.FieldErrors, encodeSeconds, decodeSeconds float64) Point {
	bpv := 8 * float64(nBytes) / float64(n)
	mb := 4 * float64(n) / 1e6
	return Point{Method: method, Setting: setting, Bytes: nBytes, BitsPerValue: bpv, Ratio: 32 / bpv,
		Errors: errs, EncodeMBps: mb / encodeSeconds, DecodeMBps: mb / decodeSeconds}
}

// SweepOptions chooses the settings of [Sweep]. Its zero value means the defaults, chosen so
// that every method's curve spans RMSEs from below 0.05 K to above 1 K on a near-surface
// temperature field (range ~30 K, values ~280 K): give your own for fields in other units.
type SweepOptions struct {
	// KeepBits are the mantissa bits bit-rounding keeps (0..23). Default 0..12 (a field of
	// values around ±10, a wind component, is within a learned codec's error only below 3).
	KeepBits []int
	// DemeanKeepBits are those of bit-rounding on the field minus its mean
	// ([DemeanMethod]). Default 0..12: rounding each anomaly to its own few leading bits
	// reaches 0.5 K only at 0 kept bits on 2 m temperature.
	DemeanKeepBits []int
	// PackBits are the bits per value of linear packing (1..32). Default 3..16: below 8 bits,
	// because on a 30 K range even 8 bits give RMSE ≈ 0.03 K.
	PackBits []int
	// ZFPTolerances are ZFP's absolute error bounds in the field's units. Default
	// [ZFPTolerancesFor] the field.
	ZFPTolerances []float64
	// LatWeights has one weight per latitude row (len H) for the lat-weighted RMSE, e.g.
	// metrics.LatCosWeights; nil weighs all rows alike.
	LatWeights []float64
	// Coders are the lossless coders after bit-rounding and after linear packing. Default
	// [Coders] (all three; CoderZstd19 needs the zstd command).
	Coders []string
	// SkipZFP leaves ZFP out (it needs python3-zfpy); ZFP2D adds ZFP per [H, W] slice.
	SkipZFP, ZFP2D bool
	// SkipDemeaned leaves out bit-rounding and ZFP on the field minus its mean
	// ([DemeanMethod]), which run by default.
	SkipDemeaned bool
	// Repeats is how many times each setting is timed, the fastest counting. Default 1.
	Repeats int
}

// DefaultZFPTolerances are the powers of two from 2^−5 to 2^7 (0.03125 to 128). ZFP's fixed-accuracy
// mode drops the bit planes below 2^floor(log2 tolerance), so tolerances between two powers
// of two give the same stream as the lower one. Its bound is loose: on hourly ERA5 2 m
// temperature, compressed as [T, H, W], tolerance 32 gives RMSE ≈ 0.5 K and max error
// ≈ 4 K, hence the reach up to 128.
func DefaultZFPTolerances() []float64 {
	out := make([]float64, 0, 13)
	for e := -5; e <= 7; e++ {
		out = append(out, math.Ldexp(1, e))
	}
	return out
}

// ZFPTolerancesFor are the tolerances Sweep gives ZFP on x by default: the powers of two from
// 2^−12 σ to 2^4 σ (σ, x's standard deviation, rounded to a power of two), joined with
// 2^−5..2^7 ([DefaultZFPTolerances], the range for kelvin) where the two ranges meet, so that
// fields in other units (specific humidity in kg/kg, around 10⁻³; surface pressure in Pa,
// around 10⁵) get settings from near-lossless to coarser than any learned codec, as kelvin
// does, and the settings on near-surface temperature stay those of DefaultZFPTolerances (and
// finer). NaNs are not counted; a constant field gets DefaultZFPTolerances.
func ZFPTolerancesFor(x []float32) []float64 {
	var sum, sq float64
	n := 0
	for _, v := range x {
		if v == v {
			sum += float64(v)
			n++
		}
	}
	lo, hi := -5, 7
	if n > 0 {
		mean := sum / float64(n)
		for _, v := range x {
			if v == v {
				sq += (float64(v) - mean) * (float64(v) - mean)
			}
		}
		if std := math.Sqrt(sq / float64(n)); std > 0 && !math.IsInf(std, 0) {
			e := int(math.Round(math.Log2(std)))
			if e-12 <= hi && e+4 >= lo { // the ranges meet: join them
				lo, hi = min(lo, e-12), max(hi, e+4)
			} else {
				lo, hi = e-12, e+4
			}
		}
	}
	out := make([]float64, 0, hi-lo+1)
	for e := lo; e <= hi; e++ {
		out = append(out, math.Ldexp(1, e))
	}
	return out
}

func intRange(lo, hi int) []int {
	out := make([]int, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

func (o SweepOptions) withDefaults() SweepOptions {
	if o.KeepBits == nil {
		o.KeepBits = intRange(0, 12)
	}
	if o.DemeanKeepBits == nil {
		o.DemeanKeepBits = intRange(0, 12)
	}
	if o.PackBits == nil {
		o.PackBits = intRange(3, 16)
	}
	if o.Coders == nil {
		o.Coders = Coders
	}
	o.Repeats = max(o.Repeats, 1)
	return o
}

// Sweep compresses x, a row-major float32 field of shape [..., H, W] (e.g. [T, H, W], in
// physical units), with every baseline at every setting of opts, decompresses it, checks that
// the decoder returned exactly what the encoder meant (bit-rounded or packed values), and
// measures the errors of the reconstruction with [metrics.CompareFields] and opts.LatWeights:
// the same code the learned codec is measured with. Points come per method in the order
// bit-rounding + each coder, linear packing alone, linear packing + each coder, zfp (the
// array whole), zfp-2d; then, unless opts.SkipDemeaned, bit-rounding + each coder and zfp
// (and zfp-2d) on the field minus its mean ([DemeanMethod]). Linear packing has no demeaned
// variant: its offset already removes the mean.
// It returns an error for a shape that does not match x, invalid settings, a round trip that
// is not exact, a missing zstd command (for CoderZstd19) and, unless SkipZFP, a missing
// python3-zfpy. NaNs are missing values for bit-rounding and packing; ZFP refuses them.
func Sweep(x []float32, shape []int, opts SweepOptions) ([]Point, error) {
	opts = opts.withDefaults()
	if opts.ZFPTolerances == nil {
		opts.ZFPTolerances = ZFPTolerancesFor(x)
	}
	if len(shape) < 2 {
		return nil, fmt.Errorf("baselines: sweep over shape %v: want [..., H, W]", shape)
	}
	size := 1
	for _, d := range shape {
		size *= max(d, 0)
	}
	if size != len(x) || size == 0 {
		return nil, fmt.Errorf("baselines: sweep over shape %v given %d values", shape, len(x))
	}
	compare := func(recon []float32) (metrics.FieldErrors, error) {
		return metrics.CompareFields(x, recon, shape, opts.LatWeights)
	}
	if _, err := compare(x); err != nil {
		return nil, err
	}
	for _, coder := range opts.Coders {
		if err := checkCoder(coder); err != nil {
			return nil, err
		}
	}
	var points []Point
	for _, coder := range opts.Coders {
		ps, err := bitRoundPoints(x, opts, coder, false, compare)
		if err != nil {
			return nil, err
		}
		points = append(points, ps...)
	}
	coded := make([][]Point, len(opts.Coders)) // linear packing + each coder, listed after packing alone
	for _, bits := range opts.PackBits {
		var payload []byte
		var offset, scale float64
		var recon []float32
		pack, err := fastest(opts.Repeats, func() (err error) {
			payload, offset, scale, err = LinearPack(x, bits)
			return err
		})
		if err != nil {
			return nil, err
		}
		unpack, err := fastest(opts.Repeats, func() (err error) {
			recon, err = LinearUnpack(payload, len(x), bits, offset, scale)
			return err
		})
		if err != nil {
			return nil, err
		}
		errs, err := compare(recon)
		if err != nil {
			return nil, err
		}
		setting := "bits=" + strconv.Itoa(bits)
		points = append(points, NewPoint(MethodLinearPack, setting, len(payload)+linearSideBytes, len(x), errs, pack, unpack))
		for c, coder := range opts.Coders {
			var stream []byte
			var reconCoded []float32
			compress, err := fastest(opts.Repeats, func() (err error) {
				stream, err = compressBytes(payload, coder)
				return err
			})
			if err != nil {
				return nil, err
			}
			decompress, err := fastest(opts.Repeats, func() error {
				raw, err := decompressBytes(stream, len(payload), coder)
				if err != nil {
					return err
				}
				reconCoded, err = LinearUnpack(raw, len(x), bits, offset, scale)
				return err
			})
			if err != nil {
				return nil, err
			}
			method := LinearPackMethod(coder)
			if i := firstBitDifference(reconCoded, recon); i >= 0 {
				return nil, fmt.Errorf("baselines: %s bits=%d: value %d decoded as %v, packed %v", method, bits, i, reconCoded[i], recon[i])
			}
			coded[c] = append(coded[c], NewPoint(method, setting, len(stream)+linearSideBytes, len(x), errs, pack+compress, decompress))
		}
	}
	for _, ps := range coded {
		points = append(points, ps...)
	}
	if !opts.SkipZFP {
		for _, perSlice := range []bool{false, true} {
			if perSlice && !opts.ZFP2D {
				continue
			}
			zfp, err := zfpPoints(x, shape, opts.ZFPTolerances, perSlice, false, opts.LatWeights)
			if err != nil {
				return nil, err
			}
			points = append(points, zfp...)
		}
	}
	if opts.SkipDemeaned {
		return points, nil
	}
	for _, coder := range opts.Coders {
		ps, err := bitRoundPoints(x, opts, coder, true, compare)
		if err != nil {
			return nil, err
		}
		points = append(points, ps...)
	}
	if !opts.SkipZFP {
		for _, perSlice := range []bool{false, true} {
			if perSlice && !opts.ZFP2D {
				continue
			}
			zfp, err := zfpPoints(x, shape, opts.ZFPTolerances, perSlice, true, opts.LatWeights)
			if err != nil {
				return nil, err
			}
			points = append(points, zfp...)
		}
	}
	return points, nil
}

// bitRoundPoints sweeps bit-rounding + shuffle + coder over opts.KeepBits on x, or with demean
// over opts.DemeanKeepBits on x minus its mean ([Demean]; the 4 bytes of the mean counted, its
// subtraction and addition timed), checking that the decoder returns exactly the rounded values.
func bitRoundPoints(x []float32, opts SweepOptions, coder string, demean bool, compare func([]float32) (metrics.FieldErrors, error)) ([]Point, error) {
	method, side := BitRoundMethod(coder), 0
	if demean {
		method, side = DemeanMethod(method), demeanSideBytes
	}
	in, mean, settings := x, float32(0), opts.KeepBits
	if demean {
		in, mean = Demean(x)
		settings = opts.DemeanKeepBits
	}
	var points []Point
	for _, keepbits := range settings {
		var stream []byte
		var decoded, recon []float32
		encode, err := fastest(opts.Repeats, func() (err error) {
			in := x
			if demean {
				in, _ = Demean(x)
			}
			stream, err = BitRoundCompress(in, keepbits, coder)
			return err
		})
		if err != nil {
			return nil, err
		}
		decode, err := fastest(opts.Repeats, func() (err error) {
			decoded, err = BitRoundDecompress(stream, len(x), coder)
			recon = decoded
			if err == nil && demean {
				recon = Remean(decoded, mean)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if i := firstBitDifference(decoded, BitRound(in, keepbits)); i >= 0 {
			return nil, fmt.Errorf("baselines: %s keepbits=%d: value %d decoded as %v, encoded %v", method, keepbits, i, decoded[i], BitRound(in[i:i+1], keepbits)[0])
		}
		errs, err := compare(recon)
		if err != nil {
			return nil, err
		}
		points = append(points, NewPoint(method, "keepbits="+strconv.Itoa(keepbits), len(stream)+side, len(x), errs, encode, decode))
	}
	return points, nil
}

// Demean returns x minus its mean and that mean, as the float32 a decoder is given (four
// bytes): the mean of x's finite values accumulated in float64, rounded to float32, and
// subtracted in float32. NaN and ±Inf stay as they are. [Remean] undoes it up to float32
// rounding of the sum.
func Demean(x []float32) ([]float32, float32) {
	sum, n := 0.0, 0
	for _, v := range x {
		if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
			sum += f
			n++
		}
	}
	mean := float32(0)
	if n > 0 {
		mean = float32(sum / float64(n))
	}
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v - mean
	}
	return out, mean
}

// Remean returns a new slice of a's values with mean added back in float32: what the decoder
// of a demeaned stream ([Demean]) outputs.
func Remean(a []float32, mean float32) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = v + mean
	}
	return out
}

// fastest runs f repeats times and returns the shortest time in seconds, or f's first error.
func fastest(repeats int, f func() error) (float64, error) {
	best := math.Inf(1)
	for range repeats {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		best = min(best, time.Since(start).Seconds())
	}
	return best, nil
}

// firstBitDifference returns the first index where a and b differ in their bits, or −1.
func firstBitDifference(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// RateAtRMSE is a method's rate at a target RMSE (or maximum error, [AtMaxAbs]), interpolated
// between the two settings of a sweep whose errors bracket the target.
type RateAtRMSE struct {
	Method string
	// Finer has RMSE ≤ target (it is the setting that meets the target), Coarser RMSE > target.
	Finer, Coarser Point
	// BitsPerValue is interpolated linearly in log RMSE between the two (rate falls by a
	// constant number of bits per halving of the error at high rates); Ratio = 32/BitsPerValue.
	BitsPerValue, Ratio float64
}

// AtRMSE returns, for each method of points whose settings bracket target (an RMSE in the
// field's units; latWeighted picks Errors.LatRMSE instead of Errors.RMSE), the interpolated
// rate, best (fewest bits) first; and the methods whose settings do not reach or do not
// exceed the target, for which a sweep with more settings is needed.
func AtRMSE(points []Point, target float64, latWeighted bool) (rates []RateAtRMSE, unbracketed []string) {
	return atError(points, target, func(p Point) float64 {
		if latWeighted {
			return p.Errors.LatRMSE
		}
		return p.Errors.RMSE
	})
}

// AtMaxAbs is [AtRMSE] at a target maximum absolute error (Errors.MaxAbs, the field's units):
// each method's rate interpolated in log maximum error between the settings that bracket it
// (Finer has a maximum error ≤ target), best first. It compares an error-bounded coder with
// the peers at the bound every value must meet.
func AtMaxAbs(points []Point, target float64) (rates []RateAtRMSE, unbracketed []string) {
	return atError(points, target, func(p Point) float64 { return p.Errors.MaxAbs })
}

// atError interpolates each method's rate at target of the error rmse measures.
func atError(points []Point, target float64, rmse func(Point) float64) (rates []RateAtRMSE, unbracketed []string) {
	var methods []string
	byMethod := map[string][]Point{}
	for _, p := range points {
		if _, ok := byMethod[p.Method]; !ok {
			methods = append(methods, p.Method)
		}
		byMethod[p.Method] = append(byMethod[p.Method], p)
	}
	for _, m := range methods {
		ps := slices.Clone(byMethod[m])
		slices.SortStableFunc(ps, func(a, b Point) int { return cmpFloat(rmse(a), rmse(b)) })
		i := slices.IndexFunc(ps, func(p Point) bool { return rmse(p) > target })
		if i <= 0 {
			unbracketed = append(unbracketed, m)
			continue
		}
		finer, coarser := ps[i-1], ps[i]
		f := (target - rmse(finer)) / (rmse(coarser) - rmse(finer))
		if rmse(finer) > 0 {
			f = math.Log(target/rmse(finer)) / math.Log(rmse(coarser)/rmse(finer))
		}
		bpv := finer.BitsPerValue + f*(coarser.BitsPerValue-finer.BitsPerValue)
		rates = append(rates, RateAtRMSE{Method: m, Finer: finer, Coarser: coarser, BitsPerValue: bpv, Ratio: 32 / bpv})
	}
	slices.SortStableFunc(rates, func(a, b RateAtRMSE) int { return cmpFloat(a.BitsPerValue, b.BitsPerValue) })
	return rates, unbracketed
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// WriteTable writes points as an aligned text table, errors in the field's units.
func WriteTable(w io.Writer, points []Point) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "method\tsetting\tbytes\tbits/value\tratio\tRMSE\tlat-RMSE\tmax abs\tbias\tenc MB/s\tdec MB/s\t")
	for _, p := range points {
		e := p.Errors
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%.2f\t%.4g\t%.4g\t%.4g\t%+.2g\t%.0f\t%.0f\t\n", p.Method, p.Setting, p.Bytes,
			p.BitsPerValue, p.Ratio, e.RMSE, e.LatRMSE, e.MaxAbs, e.Bias, p.EncodeMBps, p.DecodeMBps)
	}
	return tw.Flush()
}
