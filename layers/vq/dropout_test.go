package vq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// keepingRun is what QuantizeKeeping gives for latents z [n, d] and a keep per vector: the
// output, ∂Σ(out·r)/∂z, Quantize's output and the per-stage decoded vectors (Residual only).
type keepingRun struct {
	kept, grad, full, r []float32
	stageDecoded        [][]float32
}

func runKeeping(t *testing.T, q Quantizer, z *tensors.Tensor, keep []int32) keepingRun {
	t.Helper()
	n, d := z.Shape().Dimensions[0], z.Shape().Dimensions[1]
	rng := rand.New(rand.NewPCG(3, 5))
	r := gaussianTensor(rng, 1, n, d)
	stages := 0
	exec, err := model.NewExec(testbackend.Go(t), seededStore(nil), func(scope *model.Scope, z, r, keep *graph.Node) []*graph.Node {
		qs := scope.In("quantizer")
		full := q.Quantize(qs, z)
		out := QuantizeKeeping(q, scope.At("quantizer"), z, keep)
		grad := graph.Gradient(graph.ReduceAllSum(graph.Mul(out.Quantized, r)), z)[0]
		res := []*graph.Node{out.Quantized, grad, full.Quantized}
		if rq, ok := q.(interface{ StageQuantizers() []Quantizer }); ok {
			for i, st := range rq.StageQuantizers() {
				c := Codes{Stages: full.Codes.Stages[i : i+1]}
				res = append(res, st.(Decoder).Decode(qs.At(stageFormat, i), c))
			}
			stages = len(rq.StageQuantizers())
		}
		return res
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Call(z, r, tensors.FromFlatDataAndDimensions(keep, n))
	if err != nil {
		t.Fatalf("%s: %v", q.Name(), err)
	}
	run := keepingRun{kept: tensors.MustCopyFlatData[float32](out[0]), grad: tensors.MustCopyFlatData[float32](out[1]),
		full: tensors.MustCopyFlatData[float32](out[2]), r: tensors.MustCopyFlatData[float32](r)}
	for i := range stages {
		run.stageDecoded = append(run.stageDecoded, tensors.MustCopyFlatData[float32](out[3+i]))
	}
	return run
}

// TestQuantizeKeeping: keeping every stage is Quantize exactly; keeping none outputs 0 with no
// gradient; a residual stack keeping k stages outputs the sum of its first k stages' decoded
// codes, with the straight-through gradient; a residual FSQ keeping one stage is the
// single-stage FSQ.
func TestQuantizeKeeping(t *testing.T) {
	const n, d = 8, 4
	z := gaussianTensor(rand.New(rand.NewPCG(1, 1)), 0.5, n, d)
	for _, tc := range []struct {
		typ    string
		params map[string]any
	}{
		{"vq", map[string]any{ParamCodebookSize: 16}},
		{"simvq", map[string]any{ParamCodebookSize: 16}},
		{"fsq", map[string]any{ParamFSQLevels: "5,4,4,3"}},
		{"rvq", map[string]any{ParamCodebookSize: 16, ParamResidualStages: 3, ParamResidualType: "vq"}},
		{"rvq", map[string]any{ParamCodebookSize: 16, ParamResidualStages: 3, ParamResidualType: "simvq"}},
		{"rvq", map[string]any{ParamResidualStages: 3, ParamResidualType: "fsq", ParamFSQLevels: "5,4,4,3"}},
	} {
		q := build(t, tc.typ, tc.params)
		t.Run(q.Name(), func(t *testing.T) {
			s := int32(q.Stages())
			keep := make([]int32, n)
			for i := range keep {
				keep[i] = int32(i) % (s + 1)
			}
			keep[n-1] = s + 2 // above Stages(): every stage
			run := runKeeping(t, q, z, keep)
			for i, k := range keep {
				row := func(x []float32) []float32 { return x[i*d : (i+1)*d] }
				switch {
				case k == 0:
					if !allZero(row(run.kept)) || !allZero(row(run.grad)) {
						t.Errorf("vector %d keeps no stage: output %v, gradient %v, want zeros", i, row(run.kept), row(run.grad))
					}
					continue
				case k >= s:
					if fmt.Sprint(row(run.kept)) != fmt.Sprint(row(run.full)) {
						t.Errorf("vector %d keeps every stage: %v, Quantize gives %v", i, row(run.kept), row(run.full))
					}
				case run.stageDecoded != nil:
					for j := range d {
						var want float32
						for st := range k {
							want += run.stageDecoded[st][i*d+j]
						}
						if math.Abs(float64(run.kept[i*d+j]-want)) > 1e-5 {
							t.Errorf("vector %d keeping %d stages: %v, want the sum of their decoded codes (%d: %v)", i, k, row(run.kept), j, want)
						}
					}
				}
				if tc.typ != "fsq" && tc.params[ParamResidualType] != "fsq" {
					if fmt.Sprint(row(run.grad)) != fmt.Sprint(row(run.r)) {
						t.Errorf("vector %d keeping %d: gradient %v, want the straight-through %v", i, k, row(run.grad), row(run.r))
					}
				} else if allZero(row(run.grad)) {
					t.Errorf("vector %d keeping %d stages: no gradient", i, k)
				}
			}
			if tc.params[ParamResidualType] == "fsq" {
				single := runKeeping(t, build(t, "fsq", tc.params), z, keep)
				for i, k := range keep {
					if k == 1 && fmt.Sprint(run.kept[i*d:(i+1)*d]) != fmt.Sprint(single.full[i*d:(i+1)*d]) {
						t.Errorf("vector %d: residual FSQ keeping 1 stage gives %v, single-stage FSQ %v", i, run.kept[i*d:(i+1)*d], single.full[i*d:(i+1)*d])
					}
				}
			}
		})
	}
}

// TestQuantizeKeepingRefusesBadKeep: keep must have the latents' shape without the last axis.
func TestQuantizeKeepingRefusesBadKeep(t *testing.T) {
	q := build(t, "rvq", map[string]any{ParamCodebookSize: 8, ParamResidualStages: 2})
	exec, err := model.NewExec(testbackend.Go(t), seededStore(nil), func(scope *model.Scope, z, keep *graph.Node) *graph.Node {
		return QuantizeKeeping(q, scope, z, keep).Quantized
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = exec.Call(tensors.FromFlatDataAndDimensions(make([]float32, 8), 2, 4), tensors.FromFlatDataAndDimensions([]int32{1, 1, 1}, 3))
	if err == nil {
		t.Error("keep of 3 values for 2 latent vectors was accepted")
	}
}

func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}
