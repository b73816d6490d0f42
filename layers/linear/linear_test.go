package linear_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/linear"
)

func random(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

// TestMatchesReference runs both layouts, with a created and a given weight, against
// y[n, o] = Σ_i x[n, i]·W(i, o) + b[o] written as loops, on every backend.
func TestMatchesReference(t *testing.T) {
	const batch, seq, in, out = 2, 3, 5, 4
	rng := rand.New(rand.NewPCG(1, 2))
	x := random(rng, batch*seq*in)
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for _, layout := range []linear.Layout{linear.InOut, linear.OutIn} {
			for _, given := range []bool{false, true} {
				t.Run(fmt.Sprintf("layout%d_given%v", layout, given), func(t *testing.T) {
					wDims := []int{in, out}
					if layout == linear.OutIn {
						wDims = []int{out, in}
					}
					wGiven := random(rng, in*out)
					store := model.NewStore()
					store.SetParam(model.ParamInitialSeed, int64(7))
					exec, err := model.NewExec(backend, store, func(scope *model.Scope, x, w *graph.Node) *graph.Node {
						l := linear.New(scope.In("layer"), x, out).Layout(layout)
						if given {
							l = l.Weight(w).UseBias(false)
						}
						return l.Done()
					})
					if err != nil {
						t.Fatal(err)
					}
					defer exec.Finalize()
					res, err := exec.Call(tensors.FromFlatDataAndDimensions(x, batch, seq, in), tensors.FromFlatDataAndDimensions(wGiven, wDims...))
					if err != nil {
						t.Fatal(err)
					}
					if got := res[0].Shape().Dimensions; !slices.Equal(got, []int{batch, seq, out}) {
						t.Fatalf("output shape %v, want [%d %d %d]", got, batch, seq, out)
					}
					w, bias := wGiven, make([]float64, out)
					vars := map[string]bool{}
					for v := range store.IterVariables() {
						if !strings.HasPrefix(v.Path(), "/layer/") {
							continue // the random number generator's state
						}
						vars[v.Path()] = true
						values := tensors.MustCopyFlatData[float64](v.MustValue())
						switch v.Path() {
						case "/layer/" + linear.VarWeights:
							if !slices.Equal(v.Shape().Dimensions, wDims) {
								t.Errorf("weights %v, want %v", v.Shape().Dimensions, wDims)
							}
							w = values
							bound := math.Sqrt(3.0 / in)
							for _, wv := range w {
								if math.Abs(wv) > bound {
									t.Errorf("weight %g outside ±√(3/in) = ±%g", wv, bound)
								}
							}
						case "/layer/" + linear.VarBiases:
							bias = values
						}
					}
					if wantVars := map[bool]int{false: 2, true: 0}[given]; len(vars) != wantVars {
						t.Errorf("variables %v, want %d", vars, wantVars)
					}
					got := tensors.MustCopyFlatData[float64](res[0])
					for n := range batch * seq {
						for o := range out {
							want := bias[o]
							for i := range in {
								if layout == linear.OutIn {
									want += x[n*in+i] * w[o*in+i]
								} else {
									want += x[n*in+i] * w[i*out+o]
								}
							}
							if math.Abs(got[n*out+o]-want) > 1e-12 {
								t.Fatalf("y[%d, %d] = %g, reference %g", n, o, got[n*out+o], want)
							}
						}
					}
				})
			}
		}
	})
}

// TestGradients checks the gradients with respect to the input and to a given weight against
// finite differences on every backend.
func TestGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := tensors.FromFlatDataAndDimensions(random(rng, 2*3*4), 2, 3, 4)
	w := tensors.FromFlatDataAndDimensions(random(rng, 5*4), 5, 4)
	weights := random(rng, 2*3*5)
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for _, layout := range []linear.Layout{linear.InOut, linear.OutIn} {
			testbackend.CheckGradient(t, backend, func(scope *model.Scope, in []*graph.Node) *graph.Node {
				weight := in[1]
				if layout == linear.InOut {
					weight = graph.Transpose(weight, 0, 1)
				}
				y := linear.New(scope, in[0], 5).Layout(layout).Weight(weight).Done()
				return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(y.Graph(), weights), 2, 3, 5)))
			}, x, w)
		}
		// With created variables (and bias), the gradient with respect to x.
		testbackend.CheckGradient(t, backend, func(scope *model.Scope, in []*graph.Node) *graph.Node {
			y := linear.New(scope, in[0], 5).Done()
			return graph.ReduceAllSum(graph.Mul(y, graph.Reshape(graph.Const(y.Graph(), weights), 2, 3, 5)))
		}, x)
	})
}

func TestPanicsNameTheProblem(t *testing.T) {
	g := graph.NewGraph(testbackend.Go(t), "panics")
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 4))
	w := graph.Parameter(g, "w", shapes.Make(dtypes.Float32, 4, 3))
	var msg string
	func() {
		defer func() { msg = fmt.Sprint(recover()) }()
		linear.New(model.NewStore().RootScope(), x, 3).Layout(linear.OutIn).Weight(w).Done()
	}()
	if !strings.Contains(msg, "Weight") || !strings.Contains(msg, "[3 4]") {
		t.Errorf("panic %q, want one naming Weight and the expected [3 4]", msg)
	}
}

// TestNamesAndInitializers gives the variables other names and constant initialisers:
// y = Σ_i x_i·½ − 1.
func TestNamesAndInitializers(t *testing.T) {
	constant := func(v float64) model.VariableInitializer {
		return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
			return graph.BroadcastToShape(graph.Scalar(g, shape.DType, v), shape)
		}
	}
	store := model.NewStore()
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return linear.New(scope, x, 2).Names("proj_w", "proj_b").Initializers(constant(0.5), constant(-1)).Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Call(tensors.FromFlatDataAndDimensions([]float32{1, 2, 3}, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got := tensors.MustCopyFlatData[float32](out[0]); !slices.Equal(got, []float32{2, 2}) {
		t.Errorf("y = %v, want [2 2]", got)
	}
	var names []string
	for v := range store.IterVariables() {
		names = append(names, v.Path())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"/proj_b", "/proj_w"}) {
		t.Errorf("variables %v, want [/proj_b /proj_w]", names)
	}
}

// TestOutInGradientsMatchDerived: for OutIn, the gradients with respect to x and to the weight
// equal those GoMLX derives for x·Wᵀ written as an Einsum (the layer's operations before its
// weight gradient was written out) to float32 rounding, for out < in and out > in, on every
// backend.
func TestOutInGradientsMatchDerived(t *testing.T) {
	const n = 300
	for _, dims := range [][2]int{{7, 19}, {19, 7}} {
		out, in := dims[0], dims[1]
		testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
			run := func(derived bool) [][]float32 {
				rng := rand.New(rand.NewPCG(uint64(out), uint64(in)))
				data := func(k int) []float32 {
					v := make([]float32, k)
					for i, x := range random(rng, k) {
						v[i] = float32(x)
					}
					return v
				}
				res, err := graph.CallOnceN(backend, func(args []*graph.Node) []*graph.Node {
					x, w, r := args[0], args[1], args[2]
					var y *graph.Node
					if derived {
						y = graph.Einsum("ni,oi->no", x, w)
					} else {
						y = linear.New(model.NewStore().RootScope(), x, out).Layout(linear.OutIn).Weight(w).UseBias(false).Done()
					}
					return graph.Gradient(graph.ReduceAllSum(graph.Mul(y, r)), x, w)
				}, tensors.FromFlatDataAndDimensions(data(n*in), n, in), tensors.FromFlatDataAndDimensions(data(out*in), out, in),
					tensors.FromFlatDataAndDimensions(data(n*out), n, out))
				if err != nil {
					t.Fatal(err)
				}
				return [][]float32{tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1])}
			}
			got, want := run(false), run(true)
			for i, name := range []string{"dx", "dW"} {
				for j := range want[i] {
					if d := math.Abs(float64(got[i][j] - want[i][j])); d > 1e-5*(1+math.Abs(float64(want[i][j]))) {
						t.Fatalf("out %d, in %d: %s[%d] = %g, derived %g", out, in, name, j, got[i][j], want[i][j])
					}
				}
			}
		})
	}
}
