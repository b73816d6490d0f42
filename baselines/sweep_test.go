package baselines

import (
	"math"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/metrics"
)

func TestSweep(t *testing.T) {
	shape := []int{4, 16, 24}
	x := smoothField(shape[0], shape[1], shape[2])
	lats := make([]float64, shape[1])
	for i := range lats {
		lats[i] = 60 - 2*float64(i)
	}
	opts := SweepOptions{KeepBits: []int{4, 8, 12}, DemeanKeepBits: []int{4, 8, 12}, PackBits: []int{6, 12}, ZFPTolerances: []float64{0.1, 1},
		LatWeights: metrics.LatCosWeights(lats), ZFP2D: true}
	points, err := Sweep(x, shape, opts)
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	byMethod := map[string][]Point{}
	for _, p := range points {
		if len(byMethod[p.Method]) == 0 {
			methods = append(methods, p.Method)
		}
		byMethod[p.Method] = append(byMethod[p.Method], p)
		if math.Abs(p.Ratio*p.BitsPerValue-32) > 1e-9 || p.EncodeMBps <= 0 || p.DecodeMBps <= 0 || p.Errors.N != len(x) {
			t.Errorf("%s %s: %+v", p.Method, p.Setting, p)
		}
		if p.Errors.LatRMSE == p.Errors.RMSE || p.Errors.RMSE <= 0 {
			t.Errorf("%s %s: RMSE %v and lat-weighted RMSE %v: the weights should count", p.Method, p.Setting, p.Errors.RMSE, p.Errors.LatRMSE)
		}
	}
	want := []string{MethodBitRoundZstd, MethodBitRoundZstd19, MethodBitRoundDeflate, MethodLinearPack, MethodLinearPackZstd,
		LinearPackMethod(CoderZstd19), LinearPackMethod(CoderDeflate), MethodZFP, MethodZFP2D,
		DemeanMethod(MethodBitRoundZstd), DemeanMethod(MethodBitRoundZstd19), DemeanMethod(MethodBitRoundDeflate),
		DemeanMethod(MethodZFP), DemeanMethod(MethodZFP2D)}
	if strings.Join(methods, ",") != strings.Join(want, ",") {
		t.Fatalf("methods %v, want %v", methods, want)
	}
	for _, m := range []string{MethodBitRoundZstd, MethodBitRoundZstd19, MethodBitRoundDeflate,
		DemeanMethod(MethodBitRoundZstd), DemeanMethod(MethodBitRoundZstd19), DemeanMethod(MethodBitRoundDeflate)} {
		ps := byMethod[m]
		if len(ps) != 3 || ps[1].Setting != "keepbits=8" {
			t.Fatalf("%s: %+v", m, ps)
		}
		for i := 1; i < len(ps); i++ {
			if ps[i].Errors.RMSE >= ps[i-1].Errors.RMSE || ps[i].Bytes <= ps[i-1].Bytes {
				t.Errorf("%s: %s has RMSE %v and %d bytes, %s %v and %d: more bits must cost bytes and cut error",
					m, ps[i].Setting, ps[i].Errors.RMSE, ps[i].Bytes, ps[i-1].Setting, ps[i-1].Errors.RMSE, ps[i-1].Bytes)
			}
		}
	}
	for i, p := range byMethod[MethodLinearPack] {
		bits := opts.PackBits[i]
		if want := float64(8*((len(x)*bits+7)/8+16)) / float64(len(x)); p.BitsPerValue != want {
			t.Errorf("linear %d bits: %v bits/value, want %v (payload + offset and scale)", bits, p.BitsPerValue, want)
		}
		for _, coder := range Coders {
			z := byMethod[LinearPackMethod(coder)][i]
			// The coders find little in 12-bit codes of a noisy field (they may add a few
			// bytes), but 6-bit codes of a smooth field repeat.
			if z.Errors != p.Errors || (bits == 6 && z.Bytes >= p.Bytes) {
				t.Errorf("linear+%s %d bits: errors %+v bytes %d against packing's %+v %d", coder, bits, z.Errors, z.Bytes, p.Errors, p.Bytes)
			}
		}
	}
	for _, m := range []string{MethodZFP, MethodZFP2D, DemeanMethod(MethodZFP), DemeanMethod(MethodZFP2D)} {
		for i, p := range byMethod[m] {
			if p.Errors.MaxAbs > opts.ZFPTolerances[i]+1e-4 { // + float32 rounding of the mean's subtraction and addition
				t.Errorf("%s %s: max error %v", m, p.Setting, p.Errors.MaxAbs)
			}
		}
	}
}

// TestSweepDemeaned: the demeaned methods code x minus its float32 mean and count its 4 bytes;
// on a field near 280 K, bit-rounding the anomaly at the same kept bits errs far less, and
// costs the stream of the rounded anomaly, no more.
func TestSweepDemeaned(t *testing.T) {
	shape := []int{4, 16, 24}
	x := smoothField(shape[0], shape[1], shape[2])
	points, err := Sweep(x, shape, SweepOptions{KeepBits: []int{2, 6}, DemeanKeepBits: []int{2, 6}, PackBits: []int{8}, Coders: []string{CoderZstd}, SkipZFP: true})
	if err != nil {
		t.Fatal(err)
	}
	anomaly, mean := Demean(x)
	if m := float64(mean); m < 270 || m > 290 {
		t.Fatalf("mean %v of a field of 270..290 K", m)
	}
	raw, demeaned := map[string]Point{}, map[string]Point{}
	for _, p := range points {
		switch p.Method {
		case MethodBitRoundZstd:
			raw[p.Setting] = p
		case DemeanMethod(MethodBitRoundZstd):
			demeaned[p.Setting] = p
		}
	}
	for i, keepbits := range []int{2, 6} {
		setting := []string{"keepbits=2", "keepbits=6"}[i]
		d, r := demeaned[setting], raw[setting]
		stream, err := BitRoundCompress(anomaly, keepbits, CoderZstd)
		if err != nil {
			t.Fatal(err)
		}
		if d.Bytes != len(stream)+4 {
			t.Errorf("%s: %d bytes, want the anomaly's stream %d + the mean's 4", setting, d.Bytes, len(stream))
		}
		if !(d.Errors.RMSE < r.Errors.RMSE/4) {
			t.Errorf("%s: demeaned RMSE %v, raw %v: rounding the anomaly should err far less", setting, d.Errors.RMSE, r.Errors.RMSE)
		}
		// The reconstruction is the rounded anomaly plus the mean.
		want := Remean(BitRound(anomaly, keepbits), mean)
		e, _ := metrics.CompareFields(x, want, shape, nil)
		if e.RMSE != d.Errors.RMSE || e.MaxAbs != d.Errors.MaxAbs {
			t.Errorf("%s: errors %+v, want those of the rounded anomaly plus the mean %+v", setting, d.Errors, e)
		}
	}
	if back := Remean(anomaly, mean); math.Abs(float64(back[7]-x[7])) > 3e-5 {
		t.Errorf("Remean(Demean(x)) = %v at 7, x %v", back[7], x[7])
	}
	none, err := Sweep(x, shape, SweepOptions{KeepBits: []int{6}, PackBits: []int{8}, Coders: []string{CoderZstd}, SkipZFP: true, SkipDemeaned: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range none {
		if strings.HasPrefix(p.Method, DemeanMethod("")) {
			t.Errorf("SkipDemeaned: %s ran", p.Method)
		}
	}
}

// The default settings must bracket RMSE 0.5 K on a temperature-like field for every method.
func TestSweepDefaultsBracketHalfKelvin(t *testing.T) {
	shape := []int{4, 16, 24}
	// The settings are what is tested here: one lossless coder is enough.
	points, err := Sweep(smoothField(shape[0], shape[1], shape[2]), shape, SweepOptions{Coders: []string{CoderZstd}})
	if err != nil {
		t.Fatal(err)
	}
	rates, unbracketed := AtRMSE(points, 0.5, false)
	if len(unbracketed) > 0 || len(rates) != 6 { // bitround+zstd, linear-pack, linear-pack+zstd, zfp, and demeaned bitround and zfp
		t.Errorf("at RMSE 0.5: rates for %d methods, %v not bracketed", len(rates), unbracketed)
	}
}

func TestSweepRefuses(t *testing.T) {
	x := smoothField(2, 4, 5)
	if _, err := Sweep(x, []int{2, 4, 4}, SweepOptions{SkipZFP: true}); err == nil {
		t.Errorf("wrong shape accepted")
	}
	if _, err := Sweep(x, []int{2, 4, 5}, SweepOptions{SkipZFP: true, LatWeights: []float64{1, 1}}); err == nil {
		t.Errorf("2 latitude weights for 4 rows accepted")
	}
	if _, err := Sweep(x, []int{2, 4, 5}, SweepOptions{SkipZFP: true, KeepBits: []int{30}}); err == nil {
		t.Errorf("keepbits 30 accepted")
	}
	if _, err := Sweep(x, []int{2, 4, 5}, SweepOptions{SkipZFP: true, DemeanKeepBits: []int{-1}}); err == nil {
		t.Errorf("demeaned keepbits -1 accepted")
	}
}

func TestAtRMSE(t *testing.T) {
	point := func(method string, rmse, bpv float64) Point {
		return Point{Method: method, BitsPerValue: bpv, Errors: metrics.FieldErrors{RMSE: rmse, LatRMSE: 2 * rmse}}
	}
	points := []Point{
		point("a", 0.25, 4), point("a", 1, 2), // 0.5 lies halfway in log RMSE: 3 bits
		point("b", 2, 1), point("b", 4, 0.5), // never as fine as 0.5
		point("c", 0.5, 2.5), point("c", 1, 1), // exactly on a setting
	}
	rates, unbracketed := AtRMSE(points, 0.5, false)
	if len(rates) != 2 || rates[0].Method != "c" || rates[1].Method != "a" {
		t.Fatalf("rates %+v, want c then a", rates)
	}
	if rates[0].BitsPerValue != 2.5 || math.Abs(rates[1].BitsPerValue-3) > 1e-12 || math.Abs(rates[1].Ratio-32.0/3) > 1e-12 {
		t.Errorf("bits/value %v and %v, want 2.5 and 3", rates[0].BitsPerValue, rates[1].BitsPerValue)
	}
	if rates[1].Finer.Errors.RMSE != 0.25 || rates[1].Coarser.Errors.RMSE != 1 {
		t.Errorf("a bracketed by %+v and %+v", rates[1].Finer, rates[1].Coarser)
	}
	if len(unbracketed) != 1 || unbracketed[0] != "b" {
		t.Errorf("unbracketed %v, want [b]", unbracketed)
	}
	// Latitude-weighted: a's lat-RMSEs are 0.5 and 2, so 0.5 falls on its finer setting.
	rates, _ = AtRMSE(points, 0.5, true)
	for _, r := range rates {
		if r.Method == "a" && r.BitsPerValue != 4 {
			t.Errorf("lat-weighted a: %v bits, want 4", r.BitsPerValue)
		}
	}
}

// TestZFPTolerancesFor: the default tolerances follow the field's spread: kelvin keeps the
// fixed range and gains finer settings, specific humidity (σ ≈ 10⁻³ kg/kg) and surface pressure
// (σ ≈ 4600 Pa) get ranges of their own.
func TestZFPTolerancesFor(t *testing.T) {
	field := func(mean, std float64) []float32 {
		x := make([]float32, 1000)
		for i := range x {
			x[i] = float32(mean + std*math.Sin(float64(i)))
		}
		return x
	}
	for _, c := range []struct {
		name     string
		x        []float32
		min, max float64
	}{{"t2m", field(280, 2.3), math.Ldexp(1, -11), 128}, {"q", field(1.5e-3, 1.1e-3), math.Ldexp(1, -22), math.Ldexp(1, -6)},
		{"sp", field(1e5, 4634), math.Ldexp(1, -5), math.Ldexp(1, 16)}, {"constant", field(3, 0), math.Ldexp(1, -5), 128}} {
		tol := ZFPTolerancesFor(c.x)
		if tol[0] != c.min || tol[len(tol)-1] != c.max {
			t.Errorf("%s: tolerances %g..%g, want %g..%g", c.name, tol[0], tol[len(tol)-1], c.min, c.max)
		}
		for i := 1; i < len(tol); i++ {
			if tol[i] != 2*tol[i-1] {
				t.Fatalf("%s: tolerances %v are not consecutive powers of two", c.name, tol)
			}
		}
	}
}
