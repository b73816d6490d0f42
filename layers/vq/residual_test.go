package vq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
)

// rowsInitVQ is a VQ whose InitFromLatents copies K consecutive latents, from row offset on,
// into the codebook: the simplest data initialisation, to test how a residual stack
// initialises its stages.
type rowsInitVQ struct {
	*VQ
	offset int
}

func (v rowsInitVQ) InitFromLatents(scope *model.Scope, z *graph.Node) {
	flat, _ := flattenLatents(z)
	rows := graph.Slice(flat, graph.AxisRange(v.offset, v.offset+v.k))
	codebook := variable(scope, "codebook", rows.Shape(), uniformInitializer(scope, 1))
	codebook.SetNodeValue(rows)
}

// residualChain is the reference residual chain of a residual stack of nearest-neighbour stages:
// the codes of each stage and the RMS of the residual left after it.
func residualChain(z [][]float32, codebooks [][][]float32) (codes [][]int32, rms []float64) {
	residual := make([][]float32, len(z))
	for i := range z {
		residual[i] = append([]float32(nil), z[i]...)
	}
	for _, codebook := range codebooks {
		stageCodes := make([]int32, len(z))
		sumSq, n := 0.0, 0
		for i, r := range residual {
			c, _ := nearestRow(r, codebook)
			stageCodes[i] = int32(c)
			for j := range r {
				r[j] -= codebook[c][j]
				sumSq += float64(r[j]) * float64(r[j])
				n++
			}
		}
		codes = append(codes, stageCodes)
		rms = append(rms, math.Sqrt(sumSq/float64(n)))
	}
	return codes, rms
}

// TestResidualNormsShrink initialises each stage of a stack from the residuals left by the
// stages before it (through InitFromLatents), and checks that ‖z − Σ_{j≤i} q_j‖ then shrinks
// at every stage, that the stack's codes and residuals are those of a reference computation
// from its codebooks, and that the output is Σ q_i. As a control, the same stack without data
// initialisation (codebooks uniform(−1/K, 1/K)) must fail the shrink criterion.
func TestResidualNormsShrink(t *testing.T) {
	const k, d, n, numStages = 16, 2, 512, 4
	const shrink = 0.8 // each stage must leave at most 80% of the residual RMS it was given.
	rng := rand.New(rand.NewPCG(21, 22))
	z := gaussianTensor(rng, 1, n, d)
	zRows := rowsOf(tensors.MustCopyFlatData[float32](z), d)
	zRMS := 0.0
	for _, row := range zRows {
		for _, v := range row {
			zRMS += float64(v) * float64(v)
		}
	}
	zRMS = math.Sqrt(zRMS / (n * d))

	for _, dataInit := range []bool{true, false} {
		t.Run(fmt.Sprintf("data_init=%v", dataInit), func(t *testing.T) {
			store := seededStore(nil)
			stages := make([]Quantizer, numStages)
			for i := range stages {
				vq, err := NewVQ(VQOptions{CodebookSize: k, Beta: 0.25})
				if err != nil {
					t.Fatal(err)
				}
				stages[i] = vq
				if dataInit {
					stages[i] = rowsInitVQ{vq, i * k}
				}
			}
			q, err := stackResidual(stages)
			if err != nil {
				t.Fatal(err)
			}
			if init, ok := q.(DataInitializer); ok != dataInit {
				t.Fatalf("stack of %s: DataInitializer=%v", q.Name(), ok)
			} else if ok {
				_, err := model.CallOnce(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
					init.InitFromLatents(scope.In("quantizer"), z)
					return graph.ReduceAllSum(z)
				}, z)
				if err != nil {
					t.Fatalf("InitFromLatents: %v", err)
				}
			}
			run := runQuantizer(t, store, q, z, false)

			var codebooks [][][]float32
			for i := range numStages {
				v := store.GetVariable(fmt.Sprintf("/quantizer/stage_%02d/codebook", i))
				if v == nil {
					t.Fatalf("no codebook variable for stage %d", i)
				}
				codebooks = append(codebooks, rowsOf(tensors.MustCopyFlatData[float32](v.MustValue()), d))
			}
			wantCodes, wantRMS := residualChain(zRows, codebooks)
			if dataInit {
				// Stage i's codebook must be rows i·K… of the residual left by stages 0…i−1.
				residual := rowsOf(tensors.MustCopyFlatData[float32](z), d)
				for i, codebook := range codebooks {
					for j := range k {
						for c := range d {
							if math.Abs(float64(codebook[j][c]-residual[i*k+j][c])) > 1e-5 {
								t.Fatalf("stage %d code %d = %v, want residual row %d = %v", i, j, codebook[j], i*k+j, residual[i*k+j])
							}
						}
					}
					for row := range residual {
						best, _ := nearestRow(residual[row], codebook)
						for c := range d {
							residual[row][c] -= codebook[best][c]
						}
					}
				}
			}

			previous, shrinks := zRMS, true
			for i := range numStages {
				for j, c := range run.stageCodes[i] {
					if c != wantCodes[i][j] {
						t.Fatalf("stage %d latent %d: code %d, reference %d", i, j, c, wantCodes[i][j])
					}
				}
				got := run.stats[fmt.Sprintf("stage_%02d_residual_rms", i)]
				if math.Abs(got-wantRMS[i]) > 1e-4*wantRMS[i]+1e-6 {
					t.Errorf("stage %d: residual RMS stat %g, reference %g", i, got, wantRMS[i])
				}
				t.Logf("stage %d: residual RMS %.4f (ratio %.3f)", i, got, got/previous)
				shrinks = shrinks && got <= shrink*previous
				previous = got
			}
			if shrinks != dataInit {
				t.Errorf("residual RMS shrinks by %g per stage: %v, want %v", shrink, shrinks, dataInit)
			}

			// The output is Σ q_i = z − r_S.
			quantized := rowsOf(tensors.MustCopyFlatData[float32](run.quantized), d)
			for i := range zRows {
				for c := range d {
					sum := 0.0
					for s, codebook := range codebooks {
						sum += float64(codebook[wantCodes[s][i]][c])
					}
					if math.Abs(float64(quantized[i][c])-sum) > 1e-5 {
						t.Fatalf("latent %d: output %v, want Σ q_i with %g in component %d", i, quantized[i], sum, c)
					}
				}
			}
		})
	}
}

func TestResidualCodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	z := gaussianTensor(rng, 1, 3, 5, 4)
	for _, tc := range []struct {
		k, stages int
		combined  bool
	}{{8, 3, true}, {1 << 10, 3, true}, {1 << 10, 4, false}, {2, 31, true}, {2, 32, false}} {
		params := map[string]any{ParamCodebookSize: tc.k, ParamResidualStages: tc.stages}
		store := seededStore(params)
		q := build(t, "rvq", params)
		r := q.(*Residual)
		if r.IndexCombined() != tc.combined || q.Stages() != tc.stages || q.CodebookSize() != tc.k {
			t.Fatalf("%s: IndexCombined=%v Stages=%d K=%d", q.Name(), r.IndexCombined(), q.Stages(), q.CodebookSize())
		}
		if want := fmt.Sprintf("rvq(%d×vq(K=%d))", tc.stages, tc.k); q.Name() != want {
			t.Errorf("Name %q, want %q", q.Name(), want)
		}
		if tc.stages > 4 {
			continue // only the radix arithmetic above is of interest
		}
		run := runQuantizer(t, store, q, z, false)
		if got, want := scalarF64(t, run.bits), float64(tc.stages)*math.Log2(float64(tc.k)); got != want {
			t.Errorf("%s: Bits %g, want %g", q.Name(), got, want)
		}
		codes := tensors.MustCopyFlatData[int32](run.index)
		for i := range codes {
			want, radix := int64(0), int64(1)
			for s := range tc.stages {
				want += int64(run.stageCodes[s][i]) * radix
				radix *= int64(tc.k)
			}
			if !tc.combined {
				want = int64(run.stageCodes[0][i])
			}
			if int64(codes[i]) != want {
				t.Fatalf("%s: Index[%d] = %d, want %d", q.Name(), i, codes[i], want)
			}
		}
		if loss := scalarF64(t, run.loss); !(loss > 0) {
			t.Errorf("%s: loss %g, want the positive sum of the stage losses", q.Name(), loss)
		}
	}
}

func TestResidualInvalidParamsNamed(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value any
	}{{ParamResidualStages, 0}, {ParamResidualType, "rvq"}, {ParamResidualType, "no_such_type"}} {
		err := Validate(map[string]any{ParamType: "rvq", tc.key: tc.value}, "")
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%v: error %v does not name the parameter", tc.key, tc.value, err)
		}
	}
	if _, err := NewResidual(ResidualOptions{NumStages: 2, Stage: ResidualOptions{NumStages: 2}}); err == nil ||
		!strings.Contains(err.Error(), ParamResidualType) {
		t.Errorf("a stack of stacks: error %v does not name %s", err, ParamResidualType)
	}
}

// TestResidualOfDataInitialisedStages runs a stack of ema_vq stages, whose InitFromLatents is
// k-means: the stack must be a DataInitializer too, and after its initialisation every stage
// must shrink the residual it is given.
func TestResidualOfDataInitialisedStages(t *testing.T) {
	const k, d, n, numStages = 8, 3, 256, 3
	params := map[string]any{ParamResidualType: "ema_vq", ParamCodebookSize: k, ParamResidualStages: numStages}
	store := seededStore(params)
	q := build(t, "rvq", params)
	init, ok := q.(DataInitializer)
	if !ok {
		t.Fatalf("%s is not a DataInitializer", q.Name())
	}
	rng := rand.New(rand.NewPCG(41, 42))
	z := gaussianTensor(rng, 1, n, d)
	if _, err := model.CallOnce(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
		init.InitFromLatents(scope.In("quantizer"), z)
		return graph.ReduceAllSum(z)
	}, z); err != nil {
		t.Fatalf("InitFromLatents: %v", err)
	}
	run := runQuantizer(t, store, q, z, false)
	previous := 1.0 // the RMS of z, up to sampling noise
	for i := range numStages {
		got := run.stats[fmt.Sprintf("stage_%02d_residual_rms", i)]
		t.Logf("stage %d: residual RMS %.4f (ratio %.3f)", i, got, got/previous)
		if !(got <= 0.8*previous) {
			t.Errorf("stage %d: residual RMS %g, want ≤ 0.8 × %g", i, got, previous)
		}
		previous = got
	}
}

// sgdUpdate adds to loss's graph one plain gradient-descent step, with learningRate, of the
// trainable variables of scope that the graph uses.
func sgdUpdate(scope *model.Scope, loss *graph.Node, learningRate float64) {
	g := loss.Graph()
	var vars []*model.Variable
	var values []*graph.Node
	for v := range scope.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v)
			values = append(values, v.NodeValue(g))
		}
	}
	grads := graph.Gradient(loss, values...)
	for i, v := range vars {
		v.SetNodeValue(graph.Sub(values[i], graph.MulScalar(grads[i], learningRate)))
	}
}

// sgdSteps trains the trainable variables of q, built under scope "quantizer", on its own loss
// for latents z with plain gradient descent.
func sgdSteps(t *testing.T, store *model.Store, q Quantizer, z *tensors.Tensor, steps int, learningRate float64) {
	t.Helper()
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
		out := q.Quantize(scope.In("quantizer"), z)
		sgdUpdate(scope, out.Loss, learningRate)
		return out.Loss
	})
	if err != nil {
		t.Fatal(err)
	}
	for range steps {
		if _, err := exec.Call(z); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResidualShrinksForEveryStageType is fault 12: every stage of a stack must reduce the
// residual it is given. Fixed grids (fsq, lfq) at one scale did not: 4×FSQ(8,8) on latents of
// RMS 0.46 left residuals 0.150, 0.080, 0.075, 0.075 (its last stage emitting one code), 4×LFQ
// 0.69, 0.44, 0.69, 0.44. Learned codebooks are first fitted to the data: ema_vq by its k-means
// initialisation, vq and simvq by gradient steps on their loss.
func TestResidualShrinksForEveryStageType(t *testing.T) {
	const n, d, numStages = 1024, 2, 4
	for _, tc := range []struct {
		typ    string
		params map[string]any
		// sgd is the number of gradient steps fitting the codebooks, at learning rate lr.
		sgd int
		lr  float64
	}{
		{"fsq", map[string]any{ParamFSQLevels: "8,8"}, 0, 0},
		{"fsq", map[string]any{ParamFSQLevels: "2,3"}, 0, 0},
		{"lfq", map[string]any{ParamCodebookSize: 4}, 0, 0},
		{"ema_vq", map[string]any{ParamCodebookSize: 16}, 0, 0},
		{"vq", map[string]any{ParamCodebookSize: 16}, 100, 1.5},
		{"simvq", map[string]any{ParamCodebookSize: 16}, 100, 1.5},
	} {
		for _, std := range []float64{1, 0.46} {
			params := map[string]any{ParamResidualType: tc.typ, ParamResidualStages: numStages}
			for k, v := range tc.params {
				params[k] = v
			}
			q := build(t, "rvq", params)
			t.Run(fmt.Sprintf("%s/std=%g", q.Name(), std), func(t *testing.T) {
				store := seededStore(nil)
				rng := rand.New(rand.NewPCG(51, 52))
				z := gaussianTensor(rng, std, n, d)
				if init, ok := q.(DataInitializer); ok {
					if _, err := model.CallOnce(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
						init.InitFromLatents(scope.In("quantizer"), z)
						return graph.ReduceAllSum(z)
					}, z); err != nil {
						t.Fatal(err)
					}
				}
				if tc.sgd > 0 {
					sgdSteps(t, store, q, z, tc.sgd, tc.lr)
				}
				run := runQuantizer(t, store, q, z, false)
				var rms []float64
				for i := range numStages {
					got := run.stats[fmt.Sprintf("stage_%02d_residual_rms", i)]
					rms = append(rms, got)
					if i > 0 && !(got < 0.9*rms[i-1]) {
						t.Errorf("stage %d: residual RMS %.4f, want < 0.9 × %.4f (the residual it was given)", i, got, rms[i-1])
					}
				}
				t.Logf("residual RMS after each stage: %.4f", rms)
			})
		}
	}
}
