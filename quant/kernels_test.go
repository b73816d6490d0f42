package quant

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
)

// updateKernels rewrites testdata/kernels.golden from the current code: run it only on the
// code whose outputs are to be pinned (it was written by the scalar float64 kernels that the
// parallel ones replaced, commit "quant: pin the kernels' outputs").
var updateKernels = flag.Bool("update_kernels", false, "rewrite testdata/kernels.golden from the current kernels")

const kernelsGolden = "testdata/kernels.golden"

// kernelCase is one quantization of the byte-identity test.
type kernelCase struct {
	name       string
	rows, cols int
	spec       Spec
	input      string // kernelInputs key
	fisher     bool
}

// kernelShapes are the matrices of the byte-identity test: single weights and rows, sizes no
// block or thread count divides, a row whose last group is short (64×172), and the transpose.
var kernelShapes = [][2]int{{1, 1}, {1, 7}, {3, 5}, {7, 13}, {64, 172}, {172, 64}, {33, 100}, {16, 256}, {5, 1000}, {130, 96}}

// kernelInputs draws the weights of each input kind for an n-weight matrix of cols columns:
// Gaussian; rows that are all zero, constant (either sign), below fp16's smallest scale,
// Gaussian with signed zeros and values on code boundaries; heavy-tailed; and matrices that
// Quantize must reject or that overflow fp16 (NaN, ±Inf, huge, and huge before a NaN).
func kernelInputs(kind string, n, cols int) []float32 {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(cols)))
	w := normal(rng, n, 0, 0.02)
	switch kind {
	case "gauss":
	case "rows":
		for i := range w {
			switch r := i / cols; r % 6 {
			case 0:
				w[i] = 0
			case 1:
				w[i] = float32(r) * 0.25
			case 2:
				w[i] = -0.75
			case 3:
				w[i] *= 1e-9 // scales below fp16's smallest subnormal
			case 4:
				w[i] = float32(math.Round(float64(w[i])*400)) / 400 // many ties
				if i%3 == 0 {
					w[i] = float32(math.Copysign(0, -1))
				}
			}
		}
	case "heavy":
		w = studentT(rng, n, 0.02)
		if n > 3 {
			w[n/3] = 8
			w[n-1] = -3.5
		}
	case "spiky": // mostly zeros: k-means starts with equal centroids and must move the empty ones
		for i := range w {
			if i%5 != 0 {
				w[i] = 0
			}
		}
	case "nan":
		w[n/2] = float32(math.NaN())
		w[n-1] = float32(math.Inf(1))
	case "inf":
		w[n-1] = float32(math.Inf(-1))
	case "huge":
		w[n/2] = 1e6
	case "hugenan": // an fp16 overflow before a NaN: the NaN is the error
		w[n/4] = 1e6
		w[n-1] = float32(math.NaN())
	default:
		panic(kind)
	}
	return w
}

// kernelCases lists every quantization of the byte-identity test.
func kernelCases() []kernelCase {
	var specs []Spec
	for _, bits := range []int{2, 3, 4, 5, 8, 9, 16} {
		for _, g := range []int{0, 1, 3, 32, 64, 100, 2000} {
			for _, sym := range []bool{false, true} {
				specs = append(specs, Spec{Method: MethodRTN, Bits: bits, GroupSize: g, Symmetric: sym})
			}
		}
	}
	for _, g := range []int{0, 3, 32, 64, 100, 2000} {
		for _, dq := range []bool{false, true} {
			specs = append(specs, Spec{Method: MethodNF4, GroupSize: g, DoubleQuant: dq})
		}
	}
	for bits := MinNFBits; bits <= MaxNFBits; bits++ {
		for _, g := range []int{0, 32, 2000} {
			specs = append(specs, Spec{Method: MethodNF, Bits: bits, GroupSize: g})
		}
	}
	for _, be := range [][2]int{{3, 0}, {4, 0}, {4, 1}, {5, 0}, {6, 0}, {6, 2}, {8, 0}, {8, 2}, {8, 5}, {16, 0}, {16, 8}} {
		for _, g := range []int{0, 32} {
			specs = append(specs, Spec{Method: MethodFloat, Bits: be[0], Exponent: be[1], GroupSize: g})
		}
	}
	options := []Spec{
		{Method: MethodRTN, Bits: 4, GroupSize: 32, OutlierFraction: 0.01},
		{Method: MethodRTN, Bits: 3, Symmetric: true, Hadamard: true, Seed: 2},
		{Method: MethodNF4, OutlierFraction: 0.02, DoubleQuant: true},
		{Method: MethodNF4, Hadamard: true, Seed: 1},
		{Method: MethodNF, Bits: 3, GroupSize: 32, OutlierFraction: 0.01, Hadamard: true},
		{Method: MethodFloat, Bits: 4, GroupSize: 32, OutlierFraction: 0.01},
		{Method: MethodFloat, Bits: 8, Hadamard: true},
	}
	specs = append(specs, options...)
	var cases []kernelCase
	for _, shape := range kernelShapes {
		inputs := []string{"gauss", "rows", "heavy"}
		if shape[0]*shape[1] < 2000 {
			inputs = append(inputs, "nan", "inf", "huge", "hugenan")
		}
		for _, spec := range specs {
			for _, in := range inputs {
				cases = append(cases, kernelCase{rows: shape[0], cols: shape[1], spec: spec, input: in})
			}
		}
		if shape[0]*shape[1] > 20000 {
			continue // k-means: the small shapes suffice
		}
		for _, bits := range []int{2, 3, 4} {
			for _, g := range []int{0, 32} {
				for _, fisher := range []bool{false, true} {
					for _, in := range []string{"gauss", "rows", "heavy", "spiky"} {
						spec := Spec{Method: MethodSqueezeLLM, Bits: bits, GroupSize: g}
						cases = append(cases, kernelCase{rows: shape[0], cols: shape[1], spec: spec, input: in, fisher: fisher})
					}
				}
			}
		}
		for _, in := range []string{"gauss", "heavy", "nan"} {
			spec := Spec{Method: MethodSqueezeLLM, Bits: 3, OutlierFraction: 0.01}
			cases = append(cases, kernelCase{rows: shape[0], cols: shape[1], spec: spec, input: in, fisher: true})
		}
	}
	seen := map[string]bool{}
	var unique []kernelCase // nf4's group 0 is its group 64
	for _, c := range cases {
		c.name = fmt.Sprintf("%dx%d/%s/%s", c.rows, c.cols, c.spec, c.input)
		if c.fisher {
			c.name += "/fisher"
		}
		if !seen[c.name] {
			seen[c.name] = true
			unique = append(unique, c)
		}
	}
	return unique
}

// kernelDigest is the first 16 hex digits of the SHA-256 of the case's MarshalBinary bytes
// and little-endian float32 dequantized weights, or of its error's text. With a dst, the case
// is quantized by QuantizeInto into dst, whose codes', scales' and zero points' memory (all of
// its capacity) is first filled with ones, so that an element the kernels failed to write
// would show.
func kernelDigest(c kernelCase, dst *Quantized) string {
	n := c.rows * c.cols
	w := kernelInputs(c.input, n, c.cols)
	var fisher []float32
	if c.fisher {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		fisher = make([]float32, n)
		for i := range fisher {
			fisher[i] = float32(rng.ExpFloat64())
		}
	}
	var q *Quantized
	var err error
	if dst != nil {
		codes, scales, zeros := dst.codes[:cap(dst.codes)], dst.scales[:cap(dst.scales)], dst.zeros[:cap(dst.zeros)]
		for i := range codes {
			codes[i] = 0xff
		}
		for i := range scales {
			scales[i] = 0xffff
		}
		for i := range zeros {
			zeros[i] = 0xffffffff
		}
		q, err = dst, QuantizeInto(dst, w, c.rows, c.cols, c.spec, fisher)
	} else {
		q, err = Quantize(w, c.rows, c.cols, c.spec, fisher)
	}
	if err != nil {
		return "error " + digest([]byte(err.Error()))
	}
	b, err := q.MarshalBinary()
	if err != nil {
		return "marshal error " + digest([]byte(err.Error()))
	}
	for _, v := range q.Dequantize() {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return digest(b)
}

// TestKernelsByteIdentical pins the stored form and the dequantized weights of every method
// over kernelCases (shapes, block sizes, widths, awkward inputs, errors) against
// testdata/kernels.golden, written by the scalar kernels the parallel ones replaced; it runs
// them with 1 and 2 threads, and with 2, 3 and 5 threads with the work split into the
// smallest runs of groups, so that splits land everywhere, and once more with 3 threads through
// QuantizeInto into one reused Quantized, holding the previous case's result and stale codes
// (-short: the 3 threads only).
func TestKernelsByteIdentical(t *testing.T) {
	cases := kernelCases()
	if *updateKernels {
		var b strings.Builder
		for _, c := range cases {
			fmt.Fprintf(&b, "%s %s\n", c.name, kernelDigest(c, nil))
		}
		if err := os.WriteFile(kernelsGolden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d cases to %s", len(cases), kernelsGolden)
		return
	}
	want := readKernelsGolden(t)
	if len(want) != len(cases) {
		t.Fatalf("%s has %d cases, the test %d", kernelsGolden, len(want), len(cases))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer func(grain int) { parallelGrain = grain }(parallelGrain)
	for _, run := range []struct {
		threads, grain int
		reuse          bool
	}{{1, parallelGrain, false}, {2, parallelGrain, false}, {2, 1, false}, {3, 1, false}, {5, 1, false}, {3, 1, true}} {
		if testing.Short() && run.threads != 3 {
			continue
		}
		runtime.GOMAXPROCS(run.threads)
		parallelGrain = run.grain
		failed := 0
		var dst *Quantized
		if run.reuse {
			dst = &Quantized{}
		}
		for _, c := range cases {
			if got := kernelDigest(c, dst); got != want[c.name] {
				if failed++; failed <= 20 {
					t.Errorf("%d threads, grain %d, reused output %v: %s: %s, pinned %s", run.threads, run.grain, run.reuse, c.name, got, want[c.name])
				}
			}
		}
		if failed > 0 {
			t.Fatalf("%d threads, grain %d, reused output %v: %d of %d cases differ from the pinned outputs", run.threads, run.grain, run.reuse, failed, len(cases))
		}
	}
}

func readKernelsGolden(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(kernelsGolden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, d, ok := strings.Cut(s.Text(), " ")
		if !ok {
			t.Fatalf("%s: bad line %q", kernelsGolden, s.Text())
		}
		want[name] = d
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestRTNCodesMatchDivision checks rtn's codes, computed from v·(1/s) with the quotient
// deciding near a tie, against clamp(RoundToEven(v/s) + z, 0, maxCode), and the zero point z
// against clamp(RoundToEven(−min/s), 0, maxCode), on every positive finite fp16 scale, at 4
// and 8 bits, symmetric and asymmetric, for weights on and one or two float32 ulps beside
// half-integer multiples of s (exact ties are common: s has 11 significant bits), and random
// ones; through codeBytes and codeNibbles (whose loops recode a group that comes near a tie)
// and code.
func TestRTNCodesMatchDivision(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var tied, near, far []float32
	for s16 := uint16(1); s16 < 0x7c00; s16++ {
		s := float64(float16ToFloat32(s16))
		for _, bits := range []int{4, 8} {
			for _, symmetric := range []bool{false, true} {
				maxCode := 1<<bits - 1
				z := rng.IntN(maxCode + 1) // about the zero point of the weights drawn
				tied, near, far = tied[:0], near[:0], far[:0]
				for range 8 {
					k := float64(rng.IntN(maxCode+7) - z - 3) // some beyond the codes: clamped
					h := float32((k + 0.5) * s)
					tied = append(tied, h)
					near = append(near, math.Nextafter32(h, 0), math.Nextafter32(h, float32(math.Inf(1))),
						math.Nextafter32(math.Nextafter32(h, float32(math.Inf(-1))), float32(math.Inf(-1))))
					far = append(far, float32((k+rng.Float64())*s))
				}
				for _, x := range [][]float32{tied, near, far, append(append(far, near...), tied...)} {
					minV, maxV := rangeFloat32(x)
					c := newRTNCoder(s, float64(minV), float64(maxV), symmetric, bits)
					wantZ, wantMax := int(clamp(math.RoundToEven(-float64(minV)/s), 0, float64(maxCode))), maxCode
					if symmetric {
						wantZ, wantMax = 1<<(bits-1)-1, 1<<bits-2
					}
					if c.z != wantZ || c.maxCode != wantMax {
						t.Fatalf("s = %g, %d bits, symmetric %v, min %g: z = %d, largest code %d, want %d and %d",
							s, bits, symmetric, minV, c.z, c.maxCode, wantZ, wantMax)
					}
					out := make([]byte, len(x))
					if bits == 8 {
						codeBytes(&c, x, out)
					} else {
						codeNibbles(&c, x, out[:(len(x)+1)/2])
					}
					for i, v := range x {
						want := min(max(int(math.RoundToEven(float64(v)/s))+c.z, 0), c.maxCode)
						got := int(out[i])
						if bits == 4 {
							got = int(out[i/2]>>(4*(i%2))) & 15
						}
						if got != want || c.code(float64(v)) != want {
							t.Fatalf("s = %g (fp16 %#04x), z = %d, %d bits: w = %g (%#08x) codes to %d (code %d), want %d",
								s, s16, c.z, bits, v, math.Float32bits(v), got, c.code(float64(v)), want)
						}
					}
				}
			}
		}
	}
}

// TestFP16Scale checks fp16Scale against float32ToFloat16 and float16ToFloat32 on every
// float32 around its inlined range's ends, and inside it on the float32 values on, beside
// and between the rounding boundaries of every fp16 value, and on random ones.
func TestFP16Scale(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		h, s := fp16Scale(float64(f))
		if want := float32ToFloat16(f); h != want || s != float64(float16ToFloat32(want)) {
			t.Fatalf("fp16Scale(%g = %#08x) = %#04x, %g, want %#04x, %g", f, b, h, s, want, float16ToFloat32(want))
		}
	}
	for _, end := range []uint32{0x38800000, 0x477ff000} {
		for b := end - 1<<14; b < end+1<<14; b++ {
			check(b)
		}
	}
	for hi := uint32(0x38800000); hi < 0x47800000; hi += 1 << 13 {
		for _, lo := range []uint32{0, 1, 0xffe, 0xfff, 0x1000, 0x1001, 0x1ffe, 0x1fff} {
			check(hi | lo)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 1 << 20 {
		check(rng.Uint32() % 0x7f800000) // finite and ≥ 0, as scales are
	}
}

// TestQuantizeIntoReusesMemory checks that QuantizeInto codes rtn into the memory of a
// previous result of the same shape (its codes, scales and zero points), and nf4 into its
// codes, as BenchmarkQuantize and go run ./bench quant count on.
func TestQuantizeIntoReusesMemory(t *testing.T) {
	w := normal(rand.New(rand.NewPCG(1, 2)), 64*256, 0, 0.02)
	for _, spec := range []Spec{{Method: MethodRTN, Bits: 4, GroupSize: 64}, {Method: MethodRTN, Bits: 8}, {Method: MethodNF4}} {
		var q Quantized
		if err := QuantizeInto(&q, w, 64, 256, spec, nil); err != nil {
			t.Fatal(err)
		}
		codes, scales, zeros := &q.codes[0], q.scales, q.zeros
		if err := QuantizeInto(&q, w, 64, 256, spec, nil); err != nil {
			t.Fatal(err)
		}
		if &q.codes[0] != codes {
			t.Errorf("%s: the codes moved", spec)
		}
		if spec.Method == MethodRTN && (&q.scales[0] != &scales[0] || &q.zeros[0] != &zeros[0]) {
			t.Errorf("%s: the scales or zero points moved", spec)
		}
	}
}
