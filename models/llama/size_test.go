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

// TestPTQRunTotalBits: the model_bits a PTQ run reports (rtn, 4 bits in groups of 32) is
// scheme.TotalBits of its linear layers' storage and the other parameters at 32 bits, and
// linear_bits_per_weight that storage's bits per value.
func TestPTQRunTotalBits(t *testing.T) {
	res := runLlama(t, strings.Replace(ptqConfig, "%s", `, "ptq": "rtn", "ptq_bits": 4, "ptq_group_size": 32`, 1))
	c := llama.Stories260K
	linear := linearStorage(c, func(int) quant.Spec { return quant.Spec{Method: quant.MethodRTN, Bits: 4, GroupSize: 32} })
	other := scheme.Unquantized(int64(c.NumParams()-c.LinearParams()), 32)
	if got, want := res.Eval[llama.MetricModelBits], scheme.TotalBits(linear, other); got != want {
		t.Errorf("model_bits %v, want scheme.TotalBits %v", got, want)
	}
	if got, want := res.Eval[llama.MetricLinearBitsPerWeight], linear.BitsPerValue(); got != want {
		t.Errorf("linear_bits_per_weight %v, want %v", got, want)
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
