package llama_test

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/qzoo/qzoo/models/llama"
	"github.com/qzoo/qzoo/quant"
	"github.com/qzoo/qzoo/quant/scheme"
)

// linearStorage is Σ over the blocks' linear layers of spec(width of layer i).Storage.
func linearStorage(c llama.Config, spec func(i int) quant.Spec) scheme.Storage {
	var st scheme.Storage
	i := 0
	for range c.Layers {
		for _, name := range llama.LinearNames {
			o, in := c.LinearShape(name)
			st = st.Add(spec(i).Storage(o, in))
			i++
		}
	}
	return st
}

// TestPTQRunTotalBits: the model_bits a PTQ run reports is scheme.TotalBits of its linear
// layers' storage and the other parameters at 32 bits, and linear_bits_per_weight that
// storage's bits per value: rtn at 4 bits in groups of 32, and the data types of Dettmers &
// Zettlemoyer (FP4 E2M1 in blocks of 64, NF3 in flattened blocks of 4096 — wider than every
// row, so one fp16 absmax per 4096 weights of a layer — and 16-bit symmetric rtn per row).
func TestPTQRunTotalBits(t *testing.T) {
	c := llama.Stories260K
	for _, tc := range []struct {
		keys string
		spec quant.Spec
	}{
		{`, "ptq": "rtn", "ptq_bits": 4, "ptq_group_size": 32`, quant.Spec{Method: quant.MethodRTN, Bits: 4, GroupSize: 32}},
		{`, "ptq": "float", "ptq_bits": 4, "ptq_exponent_bits": 2, "ptq_group_size": 64`, quant.Spec{Method: quant.MethodFloat, Bits: 4, Exponent: 2, GroupSize: 64}},
		{`, "ptq": "nf", "ptq_bits": 3, "ptq_group_size": 4096`, quant.Spec{Method: quant.MethodNF, Bits: 3, GroupSize: 4096}},
		{`, "ptq": "rtn", "ptq_bits": 16, "ptq_symmetric": true`, quant.Spec{Method: quant.MethodRTN, Bits: 16, Symmetric: true}},
	} {
		res := runLlama(t, strings.Replace(ptqConfig, "%s", tc.keys, 1))
		linear := linearStorage(c, func(int) quant.Spec { return tc.spec })
		other := scheme.Unquantized(int64(c.NumParams()-c.LinearParams()), 32)
		if got, want := res.Eval[llama.MetricModelBits], scheme.TotalBits(linear, other); got != want {
			t.Errorf("%s: model_bits %v, want scheme.TotalBits %v", tc.spec, got, want)
		}
		if got, want := res.Eval[llama.MetricLinearBitsPerWeight], linear.BitsPerValue(); got != want {
			t.Errorf("%s: linear_bits_per_weight %v, want %v", tc.spec, got, want)
		}
	}
	// NF3 in blocks of 4096: wq and wo [64, 64] hold one block each, wk and wv [32, 64] one
	// of 2048, w1, w2 and w3 (11,008 weights) three; 3 bits per weight and 16 per block.
	perLayer := 2*1 + 2*1 + 3*3
	nf3 := linearStorage(c, func(int) quant.Spec { return quant.Spec{Method: quant.MethodNF, Bits: 3, GroupSize: 4096} })
	if want := float64(3*c.LinearParams() + 16*perLayer*c.Layers); nf3.Total() != want {
		t.Errorf("nf-w3-g4096 linear bits %v, hand count %v", nf3.Total(), want)
	}
}

// TestSizeBreaksDownMixedWidths: Size rebuilds the linear storage term by term from the
// widths Calibrate records, and counts a total it cannot rebuild (no widths stored under a
// bit budget, as an older checkpoint) as codes, with the same total.
func TestSizeBreaksDownMixedWidths(t *testing.T) {
	w, _ := stories260K(t)
	store := storeOf(t, w)
	params := llamaParams(t)
	params[quant.ParamPTQ], params[quant.ParamPTQBudget] = quant.MethodSqueezeLLM, 3.5
	c := w.Config
	n := c.Layers * len(llama.LinearNames)
	widths := make([]int32, n)
	for i := range widths {
		widths[i] = int32(quant.AllocationBits[i%len(quant.AllocationBits)])
	}
	want := linearStorage(c, func(i int) quant.Spec { return quant.SpecFromParams(params, int(widths[i])) })
	scope := store.RootScope().In("quantization")
	if _, err := scope.CreateVariable(llama.VarLinearBits, tensors.FromScalar(want.Total())); err != nil {
		t.Fatal(err)
	}
	old, err := llama.Size(store, params, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := scope.CreateVariable(llama.VarLinearCodeBits, tensors.FromValue(widths)); err != nil {
		t.Fatal(err)
	}
	size, err := llama.Size(store, params, "")
	if err != nil {
		t.Fatal(err)
	}
	if size.Linear != want || want.Tables == 0 {
		t.Errorf("linear storage %+v, want %+v", size.Linear, want)
	}
	if old.Linear != (scheme.Storage{Values: int64(c.LinearParams()), Codes: want.Total()}) {
		t.Errorf("without the widths: %+v, want the stored total as codes", old.Linear)
	}
	total := int64(scheme.TotalBits(size.Parts()...))
	if size.TotalBits != total || old.TotalBits != total || size.LinearBits != int64(want.Total()) {
		t.Errorf("TotalBits %d (%d without widths), LinearBits %d; want %d and %v", size.TotalBits, old.TotalBits, size.LinearBits, total, want.Total())
	}
	if size.Float != scheme.Unquantized(int64(c.NumParams()-c.LinearParams()), 32) {
		t.Errorf("float parameters %+v", size.Float)
	}
}
