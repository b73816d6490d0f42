package vq

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/quant/scheme"
)

// groupScale is a test-only per-group integer quantizer, the kind of weight or KV-cache
// quantizer Codes.Side is for: every group of g consecutive elements of a latent vector gets a
// scale s = max|z|/(2^{b−1} − ½) (side information "scale" [..., D/g], 32 bits each), and every
// element the code c = round(z/s + 2^{b−1} − ½) ∈ [0, 2^b) (codes [..., D]), decoded as
// s·(c − 2^{b−1} + ½).
type groupScale struct{ bits, group int }

func (q groupScale) Name() string      { return fmt.Sprintf("groupscale(b=%d,g=%d)", q.bits, q.group) }
func (q groupScale) CodebookSize() int { return 1 << q.bits }
func (q groupScale) Stages() int       { return 1 }
func (q groupScale) Scheme() scheme.Scheme {
	return scheme.Scheme{Kind: scheme.Latents, Method: "groupscale", Bits: float64(q.bits), Type: scheme.Integer, Symmetric: true, Block: q.group, Axis: scheme.PerVector, Dim: 1}
}

func (q groupScale) Quantize(scope *model.Scope, z *graph.Node) Output {
	flat, leading := flattenLatents(z)
	n, d := flat.Shape().Dimensions[0], flat.Shape().Dimensions[1]
	grouped := graph.Reshape(graph.StopGradient(flat), n, d/q.group, q.group)
	half := float64(int(1)<<(q.bits-1)) - 0.5
	scale := graph.MaxScalar(graph.DivScalar(graph.ReduceMax(graph.Abs(grouped), -1), half), 1e-12) // [N, D/g]
	codes := graph.Round(graph.AddScalar(graph.Div(grouped, graph.InsertAxes(scale, -1)), half))
	codes = graph.ConvertDType(graph.ClipScalar(codes, 0, float64(q.CodebookSize()-1)), dtypes.Int32)
	side := graph.Reshape(scale, append(append([]int{}, leading...), d/q.group)...)
	c := Codes{Stages: []*graph.Node{graph.Reshape(codes, z.Shape().Dimensions...)}, Side: map[string]*graph.Node{"scale": side}}
	g := z.Graph()
	return Output{
		Quantized: straightThrough(z, q.Decode(scope, c)),
		Codes:     c,
		Bits:      graph.Scalar(g, z.DType(), float64(d*q.bits+d/q.group*32)),
		Loss:      graph.ScalarZero(g, z.DType()),
		Stats:     map[string]*graph.Node{},
	}
}

func (q groupScale) Decode(_ *model.Scope, codes Codes) *graph.Node {
	checkCodes(codes, 1)
	c, scale := codes.Stages[0], codes.Side["scale"]
	dims := c.Shape().Dimensions
	grouped := graph.Reshape(graph.ConvertDType(c, scale.DType()), append(append([]int{}, dims[:len(dims)-1]...), -1, q.group)...)
	half := float64(int(1)<<(q.bits-1)) - 0.5
	return graph.Reshape(graph.Mul(graph.AddScalar(grouped, -half), graph.InsertAxes(scale, -1)), dims...)
}

// TestSideInformationTravelsWithCodes: a quantizer with per-element codes and per-group scales
// fits the contract. Decode rebuilds Quantized from Codes (stage codes and side information),
// Bits counts the side information, and a residual stack of two keeps each stage's scales under
// "stage_0i_scale" and decodes them.
func TestSideInformationTravelsWithCodes(t *testing.T) {
	const b, h, d = 3, 5, 8
	single := groupScale{bits: 4, group: 2}
	stack, err := stackResidual([]Quantizer{single, single})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(61, 62))
	z := gaussianTensor(rng, 1, b, h, d)
	for _, tc := range []struct {
		q        Quantizer
		sideKeys []string
		bits     float64
	}{
		{single, []string{"scale"}, d*4 + d/2*32},
		{stack, []string{"stage_00_scale", "stage_01_scale"}, 2 * (d*4 + d/2*32)},
	} {
		t.Run(tc.q.Name(), func(t *testing.T) {
			var sideKeys []string
			var indexNil bool
			exec, err := model.NewExec(testbackend.Go(t), seededStore(nil), func(scope *model.Scope, z *graph.Node) []*graph.Node {
				out := tc.q.Quantize(scope.In("quantizer"), z)
				sideKeys, indexNil = nil, out.Index == nil
				var sideShapes []*graph.Node
				for name, v := range out.Codes.Side {
					sideKeys = append(sideKeys, name)
					sideShapes = append(sideShapes, v)
				}
				decoded := tc.q.(Decoder).Decode(scope.At("quantizer"), out.Codes)
				return append([]*graph.Node{out.Quantized, decoded, out.Bits, out.Codes.Stages[0]}, sideShapes...)
			})
			if err != nil {
				t.Fatal(err)
			}
			res, err := exec.Call(z)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(sideKeys)
			if !slices.Equal(sideKeys, tc.sideKeys) || !indexNil {
				t.Errorf("side information %v (Index nil: %v), want %v and no index", sideKeys, indexNil, tc.sideKeys)
			}
			for _, side := range res[4:] {
				if got := fmt.Sprint(side.Shape().Dimensions); got != fmt.Sprint([]int{b, h, d / 2}) {
					t.Errorf("scale shape %s, want [%d %d %d]", got, b, h, d/2)
				}
			}
			if got := fmt.Sprint(res[3].Shape().Dimensions); got != fmt.Sprint([]int{b, h, d}) {
				t.Errorf("codes shape %s, want per element [%d %d %d]", got, b, h, d)
			}
			if bits := scalarF64(t, res[2]); bits != tc.bits {
				t.Errorf("Bits = %g, want %g (codes and scales)", bits, tc.bits)
			}
			quantized, decoded, zs := tensors.MustCopyFlatData[float32](res[0]), tensors.MustCopyFlatData[float32](res[1]), tensors.MustCopyFlatData[float32](z)
			sqErr := 0.0
			for i := range quantized {
				if math.Abs(float64(quantized[i]-decoded[i])) > 1e-5 {
					t.Fatalf("decoded[%d] = %g, quantized %g", i, decoded[i], quantized[i])
				}
				sqErr += math.Pow(float64(quantized[i]-zs[i]), 2)
			}
			t.Logf("RMS error %.4f", math.Sqrt(sqErr/float64(len(zs))))
		})
	}
}
