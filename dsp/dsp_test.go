package dsp

import (
	"math"
	"math/cmplx"
	"testing"
)

func sine(n, rate int, hz, amp float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return x
}

func rms(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

func TestHann(t *testing.T) {
	w := Hann(4) // periodic: 0, 0.5, 1, 0.5
	want := []float32{0, 0.5, 1, 0.5}
	for i := range w {
		if math.Abs(float64(w[i]-want[i])) > 1e-7 {
			t.Fatalf("Hann(4) = %v, want %v", w, want)
		}
	}
}

func TestMelScales(t *testing.T) {
	if m := Slaney.HzToMel(1000); math.Abs(m-15) > 1e-12 {
		t.Errorf("Slaney 1 kHz = %g mel, want 15", m)
	}
	if m := HTK.HzToMel(1000); math.Abs(m-999.9855) > 1e-3 {
		t.Errorf("HTK 1 kHz = %g mel, want 999.9855", m)
	}
	for _, s := range []MelScale{HTK, Slaney} {
		for _, f := range []float64{0, 300, 999, 1000, 1001, 4000, 7999} {
			if back := s.MelToHz(s.HzToMel(f)); math.Abs(back-f) > 1e-9*math.Max(1, f) {
				t.Errorf("scale %d: %g Hz → %g Hz", s, f, back)
			}
		}
	}
}

func TestMelFilterbank(t *testing.T) {
	const rate, nfft, mels = 16000, 512, 40
	fb, err := MelFilterbank(rate, nfft, mels, 0, 8000, Slaney, false)
	if err != nil {
		t.Fatal(err)
	}
	bins := nfft/2 + 1
	if len(fb) != bins*mels {
		t.Fatalf("len %d, want %d", len(fb), bins*mels)
	}
	// Every filter is a triangle: at most 1, reaching > 0.5 somewhere; the centres increase.
	prevPeak := -1
	for m := 0; m < mels; m++ {
		peak, arg := float32(0), 0
		for k := 0; k < bins; k++ {
			if v := fb[k*mels+m]; v > peak {
				peak, arg = v, k
			}
		}
		if peak > 1+1e-6 || peak < 0.5 || arg < prevPeak {
			t.Fatalf("filter %d: peak %g at bin %d (previous at %d)", m, peak, arg, prevPeak)
		}
		prevPeak = arg
	}
	// Area normalisation: each filter's integral over Hz is ≈ 1 (2/(width) × width/2).
	norm, err := MelFilterbank(rate, 2048, 20, 0, 8000, Slaney, true)
	if err != nil {
		t.Fatal(err)
	}
	hzPerBin := float64(rate) / 2048
	for m := 0; m < 20; m++ {
		var area float64
		for k := 0; k < 1025; k++ {
			area += float64(norm[k*20+m]) * hzPerBin
		}
		if math.Abs(area-1) > 0.05 {
			t.Errorf("slaney-normed filter %d has area %g, want ≈ 1", m, area)
		}
	}
	for _, bad := range [][2]float64{{-1, 8000}, {100, 100}, {0, 9000}} {
		if _, err := MelFilterbank(rate, nfft, mels, bad[0], bad[1], HTK, false); err == nil {
			t.Errorf("fMin=%g fMax=%g accepted", bad[0], bad[1])
		}
	}
}

// TestSTFTPower checks the FFT path against a direct DFT of the windowed, padded frames.
func TestSTFTPower(t *testing.T) {
	x := sine(1000, 16000, 440, 0.5)
	for i := range x {
		x[i] += float32(0.1 * math.Cos(float64(i*i)/97))
	}
	for _, s := range []STFT{{NFFT: 64, Win: 64, Hop: 16}, {NFFT: 64, Win: 40, Hop: 25, Center: true}} {
		power, frames, err := s.Power(x)
		if err != nil {
			t.Fatal(err)
		}
		if frames != s.NumFrames(len(x)) || len(power) != frames*s.Bins() {
			t.Fatalf("%+v: %d frames, %d values", s, frames, len(power))
		}
		win := s.Window()
		for _, f := range []int{0, 1, frames / 2, frames - 1} {
			for k := 0; k < s.Bins(); k++ {
				var c complex128
				for i := 0; i < s.NFFT; i++ {
					j := f*s.Hop - s.Pad() + i
					if j < 0 || j >= len(x) {
						continue
					}
					c += complex(float64(x[j])*float64(win[i]), 0) * cmplx.Exp(complex(0, -2*math.Pi*float64(k*i)/float64(s.NFFT)))
				}
				want := real(c)*real(c) + imag(c)*imag(c)
				if got := float64(power[f*s.Bins()+k]); math.Abs(got-want) > 1e-4*math.Max(1, want) {
					t.Fatalf("%+v frame %d bin %d: %g, want %g", s, f, k, got, want)
				}
			}
		}
	}
	if _, _, err := (STFT{NFFT: 8, Win: 9, Hop: 1}).Power(x); err == nil {
		t.Error("win > nfft accepted")
	}
}

func TestLogMelFindsTheTone(t *testing.T) {
	m := Mel{STFT: STFT{NFFT: 512, Win: 400, Hop: 160, Center: true}, SampleRate: 16000, NMels: 64, FMax: 8000, Scale: HTK, Floor: 1e-5}
	lm, frames, err := m.LogMel(sine(16000, 16000, 1000, 0.5))
	if err != nil {
		t.Fatal(err)
	}
	if frames != 101 {
		t.Fatalf("%d frames for 1 s at hop 160 with centring, want 101", frames)
	}
	fb, _ := m.Filterbank()
	// The loudest mel band of a middle frame is the one whose filter weighs 1 kHz most.
	row := lm[50*64 : 51*64]
	best := 0
	for j := range row {
		if row[j] > row[best] {
			best = j
		}
	}
	bin := 1000 * 512 / 16000
	if fb[bin*64+best] < 0.5 {
		t.Errorf("loudest band %d has weight %g at 1 kHz", best, fb[bin*64+best])
	}
}

func TestResample(t *testing.T) {
	// A 1 kHz tone survives 8 → 16 kHz, 16 → 8 kHz and 44.1 → 16 kHz with < 0.1% error away
	// from the ends.
	for _, c := range [][2]int{{8000, 16000}, {16000, 8000}, {44100, 16000}, {16000, 22050}} {
		from, to := c[0], c[1]
		x := sine(from, from, 1000, 0.8) // one second
		y, err := Resample(x, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(y) != to {
			t.Fatalf("%d → %d: %d samples, want %d", from, to, len(y), to)
		}
		want := sine(to, to, 1000, 0.8)
		var maxErr float64
		for i := to / 10; i < to-to/10; i++ {
			maxErr = math.Max(maxErr, math.Abs(float64(y[i]-want[i])))
		}
		if maxErr > 1e-3 {
			t.Errorf("%d → %d Hz: max error %g on a 1 kHz tone", from, to, maxErr)
		}
	}
	// Downsampling removes what the new rate cannot hold: a 6 kHz tone at 16 kHz → 8 kHz would
	// alias to 2 kHz; it must come out at least 60 dB down.
	y, err := Resample(sine(16000, 16000, 6000, 0.8), 16000, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if r := rms(y[800:7200]) / rms(sine(16000, 16000, 6000, 0.8)); r > 1e-3 {
		t.Errorf("6 kHz tone after 16 → 8 kHz keeps %g of its RMS, want < 1e-3 (−60 dB)", r)
	}
	if _, err := Resample([]float32{1}, 0, 16000); err == nil {
		t.Error("rate 0 accepted")
	}
	if y, _ := Resample(nil, 8000, 16000); len(y) != 0 {
		t.Errorf("empty input gave %d samples", len(y))
	}
}

// TestResampleManyPhases checks the tabulated kernel (rates whose ratio reduces to more than
// 4096 phases, such as 7999 Hz → 16 kHz): a tone survives as it does on the exact path.
func TestResampleManyPhases(t *testing.T) {
	x := sine(7999, 7999, 1000, 0.8)
	y, err := Resample(x, 7999, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if len(y) != 16000 {
		t.Fatalf("%d samples for one second, want 16000", len(y))
	}
	want := sine(16000, 16000, 1000, 0.8)
	var maxErr float64
	for i := 1600; i < 14400; i++ {
		maxErr = math.Max(maxErr, math.Abs(float64(y[i]-want[i])))
	}
	if maxErr > 1e-3 {
		t.Errorf("7999 → 16000 Hz: max error %g on a 1 kHz tone", maxErr)
	}
}
