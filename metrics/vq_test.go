package metrics

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	u, p := Usage([]int64{5, 5, 0, 0})
	if u != 0.5 || math.Abs(p-2) > 1e-12 {
		t.Errorf("two equally used codes of four: utilisation %v code perplexity %v, want 0.5 and 2", u, p)
	}
	u, p = Usage([]int64{9, 1, 0})
	want := math.Exp(-(0.9*math.Log(0.9) + 0.1*math.Log(0.1)))
	if math.Abs(u-2.0/3) > 1e-12 || math.Abs(p-want) > 1e-12 {
		t.Errorf("got %v %v, want %v %v", u, p, 2.0/3, want)
	}
	if u, p := Usage(make([]int64, 3)); u != 0 || p != 0 {
		t.Errorf("empty histogram: %v %v", u, p)
	}
}

func TestVQEvaluator(t *testing.T) {
	ev := NewVQEvaluator(4, 2)
	// Two images of two pixels, codes for 2 latents × 2 stages, and the bits the quantizer
	// reported for each image (data dependent, as an entropy coder's).
	if err := ev.AddFlat([]float32{0, 1, 0.5, 0.5}, []float32{0.1, 0.9, 0.5, 0.5}, []int32{0, 1, 0, 3}, []float32{6, 8}); err != nil {
		t.Fatal(err)
	}
	if err := ev.AddFlat(nil, nil, nil, []float32{10}); err != nil {
		t.Fatal(err)
	}
	m := ev.Metrics()
	if math.Abs(m["mse"]-0.005) > 1e-7 || math.Abs(m["psnr"]-10*math.Log10(1/0.005)) > 1e-4 {
		t.Errorf("mse %v psnr %v", m["mse"], m["psnr"])
	}
	// Stage 0 used code 0 only (1/4), stage 1 used codes 1 and 3 (2/4): mean 3/8.
	if m["utilization"] != 0.375 || m["bits_per_image"] != 8 {
		t.Errorf("utilization %v, bits per image %v; want 0.375 and the mean reported bits (6+8+10)/3 = 8", m["utilization"], m["bits_per_image"])
	}
	if math.Abs(m["code_perplexity"]-1.5) > 1e-12 {
		t.Errorf("code_perplexity %v, want mean(1, 2) = 1.5", m["code_perplexity"])
	}
	if _, ok := m["perplexity"]; ok {
		t.Errorf("metric \"perplexity\" is reserved for language models")
	}
	// Per image: (0.1² + 0.1²)/2 and 0; their mean is the mse.
	if got := ev.Samples()[SampleImageMSE]; len(got) != 2 || math.Abs(got[0]-0.01) > 1e-7 || got[1] != 0 {
		t.Errorf("per-image mse %v, want [0.01 0]", got)
	}
}

func TestVQEvaluatorRejectsBadInput(t *testing.T) {
	ev := NewVQEvaluator(4, 1)
	for _, tc := range []struct {
		images, recon []float32
		codes         []int32
		bits          []float32
		want          string
	}{
		{[]float32{0}, []float32{float32(math.NaN())}, []int32{0}, []float32{2}, "NaN"},
		{[]float32{0}, []float32{0}, []int32{4}, []float32{2}, "out of range"},
		{[]float32{0}, []float32{0}, []int32{-1}, []float32{2}, "out of range"},
		{[]float32{0}, []float32{0}, []int32{0}, []float32{float32(math.NaN())}, "bits"},
		{[]float32{0}, []float32{0}, []int32{0}, []float32{-1}, "bits"},
		{[]float32{0, 0, 0}, []float32{0, 0, 0}, []int32{0}, []float32{2, 2}, "whole images"},
	} {
		if err := ev.AddFlat(tc.images, tc.recon, tc.codes, tc.bits); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddFlat(%v, %v, %v, %v) = %v, want error with %q", tc.images, tc.recon, tc.codes, tc.bits, err, tc.want)
		}
	}
}

func ExampleUsage() {
	utilization, codePerplexity := Usage([]int64{10, 10, 10, 10, 0, 0, 0, 0})
	fmt.Printf("utilisation %.2f, code perplexity %.1f\n", utilization, codePerplexity)
	// Output: utilisation 0.50, code perplexity 4.0
}
