package vqae_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	_ "github.com/qzoo/qzoo/datasets/fashionmnist" // vqae's default dataset, for config resolution
	"github.com/qzoo/qzoo/framework"
	"github.com/qzoo/qzoo/layers/vq"
	"github.com/qzoo/qzoo/models/vqae"
)

// statlessType is a quantizer type registered for these tests only: plain VQ that reports no
// statistics, as a quantizer without a code histogram (e.g. a uniform scalar quantizer) would.
const statlessType = "test_statless_vq"

type statlessOptions struct{ vq.VQOptions }

func (o statlessOptions) New() (vq.Quantizer, error) {
	q, err := vq.NewVQ(o.VQOptions)
	if err != nil {
		return nil, err
	}
	return statless{q}, nil
}

type statless struct{ *vq.VQ }

func (s statless) Quantize(scope *model.Scope, z *graph.Node) vq.Output {
	out := s.VQ.Quantize(scope, z)
	out.Stats = map[string]*graph.Node{}
	return out
}

func init() {
	vq.Register(statlessType, func() vq.Options { return &statlessOptions{} })
}

func randomImages(n int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = rng.Float32()
	}
	return tensors.FromFlatDataAndDimensions(x, n, 28, 28, 1)
}

// vqaeParams returns the model's default hyperparameters with the given quantizer settings.
func vqaeParams(t *testing.T, settings map[string]any) (*framework.Model, map[string]any) {
	t.Helper()
	m, err := framework.LookupModel("vqae")
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params.Defaults()
	for k, v := range settings {
		params[k] = v
	}
	return m, params
}

// TestShapesAndEncoderGradient builds the model with every quantizer: the reconstruction,
// codes and bits per image have the documented shapes and values, and the loss's gradient
// reaches the first encoder conv through the quantizer (straight-through estimator or FSQ/LFQ's
// own gradient).
func TestShapesAndEncoderGradient(t *testing.T) {
	backend, err := framework.NewBackendFromSpec("go")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range vq.Types() {
		t.Run(q, func(t *testing.T) {
			_, params := vqaeParams(t, map[string]any{vq.ParamType: q, vq.ParamCodebookSize: 256})
			store := model.NewStore()
			store.SetParams(params)
			exec, err := model.NewExec(backend, store, func(scope *model.Scope, images *graph.Node) []*graph.Node {
				out := vqae.Build(scope, []*graph.Node{images})
				loss := train.TotalLoss(images.Graph())
				w := store.GetVariable("/encoder/conv_0/conv/weights")
				if w == nil {
					t.Fatalf("encoder weights not found; variables: %v", varNames(store))
				}
				grad := graph.Gradient(loss, w.NodeValue(images.Graph()))[0]
				return append(out.Predictions, graph.ReduceAllSum(graph.Abs(grad)))
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Call(randomImages(2))
			if err != nil {
				t.Fatal(err)
			}
			quantizer, err := vq.FromParams(params, "")
			if err != nil {
				t.Fatal(err)
			}
			stages := quantizer.Stages()
			if got := outs[0].Shape().Dimensions; fmt.Sprint(got) != "[2 28 28 1]" {
				t.Errorf("reconstruction shape %v", got)
			}
			if got := outs[1].Shape().Dimensions; fmt.Sprint(got) != fmt.Sprint([]int{2, 7, 7, stages}) {
				t.Errorf("codes shape %v, want [2 7 7 %d]", got, stages)
			}
			perImage := vq.LatentStorage(quantizer.Scheme(), vqae.LatentsPerImage, params[vqae.ParamLatentDim].(int)).Total()
			if direct := vqae.LatentsPerImage * float64(stages) * math.Log2(float64(quantizer.CodebookSize())); math.Abs(perImage-direct) > 1e-9 {
				t.Errorf("scheme %s: %g bits per image, want 49·S·log₂K = %g", quantizer.Scheme(), perImage, direct)
			}
			want := float32(perImage)
			if bits := tensors.MustCopyFlatData[float32](outs[2]); len(bits) != 2 || math.Abs(float64(bits[0]-want)) > 1e-3 || bits[0] != bits[1] {
				t.Errorf("bits per image %v, want [%g %g]", bits, want, want)
			}
			if g := outs[3].Value().(float32); !(g > 0) {
				t.Errorf("the loss's gradient does not reach the encoder: Σ|∂L/∂w| = %v", g)
			}
		})
	}
}

func varNames(store *model.Store) []string {
	var names []string
	for v := range store.IterVariables() {
		names = append(names, v.Path())
	}
	return names
}

// TestEvaluatorTakesTheReportedRate: bits_per_image is the mean of the bits the model's
// predictions report, not 49·S·log2 K recomputed by the evaluator.
func TestEvaluatorTakesTheReportedRate(t *testing.T) {
	_, params := vqaeParams(t, map[string]any{vq.ParamType: "rvq", vq.ParamCodebookSize: 256})
	ev, err := vqae.NewEvaluator(params)
	if err != nil {
		t.Fatal(err)
	}
	images := randomImages(2)
	codes := tensors.FromFlatDataAndDimensions(make([]int32, 2*7*7*4), 2, 7, 7, 4) // 4 stages, all code 0
	bits := tensors.FromFlatDataAndDimensions([]float32{1000, 1200}, 2)
	if err := ev.Add([]*tensors.Tensor{images}, []*tensors.Tensor{images, codes, bits}); err != nil {
		t.Fatal(err)
	}
	if got := ev.Metrics()["bits_per_image"]; got != 1100 {
		t.Errorf("bits_per_image %v, want the mean reported 1100", got)
	}
}

// TestQuantizerWithoutStatistics is fault 9: a quantizer that reports no code statistics must
// not make up NaN values for them; Build returns the statistics the quantizer gives.
func TestQuantizerWithoutStatistics(t *testing.T) {
	backend, err := framework.NewBackendFromSpec("go")
	if err != nil {
		t.Fatal(err)
	}
	m, params := vqaeParams(t, map[string]any{vq.ParamType: statlessType, vq.ParamCodebookSize: 16})
	store := model.NewStore()
	store.SetParams(params)
	var names []string
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, images *graph.Node) []*graph.Node {
		out := vqae.Build(scope, []*graph.Node{images})
		var values []*graph.Node
		for name, v := range out.Scalars {
			names = append(names, name)
			values = append(values, v)
		}
		return values
	})
	if err != nil {
		t.Fatal(err)
	}
	values, err := exec.Call(randomImages(2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"mse"}) {
		t.Errorf("scalars %v, want only mse", names)
	}
	for i, v := range values {
		if x := v.Value().(float32); math.IsNaN(float64(x)) {
			t.Errorf("scalar %s is NaN", names[i])
		}
	}
	if !slices.Contains(m.Scalars, vq.StatCodePerplexity) || !slices.Contains(m.Scalars, vq.StatUsedCodes) {
		t.Errorf("Model.Scalars %v should still declare %s and %s", m.Scalars, vq.StatCodePerplexity, vq.StatUsedCodes)
	}
}

// TestConfigRefusesInvalidQuantizers: the model's Validate makes an unbuildable quantizer a
// config error naming the key, before any data is loaded.
func TestConfigRefusesInvalidQuantizers(t *testing.T) {
	for _, tc := range []struct{ params, key string }{
		{`"vq_type": "nope"`, "vq_type"},
		{`"vq_fsq_levels": "1,8", "vq_type": "fsq"`, "vq_fsq_levels"},
		{`"vq_type": "lfq", "vq_codebook_size": 1000`, "vq_codebook_size"},
		{`"vq_type": "rvq", "vq_residual_type": "rvq"`, "vq_residual_type"},
		{`"vq_type": "ema_vq", "vq_ema_decay": 1.0`, "vq_ema_decay"},
	} {
		_, err := framework.ParseConfig([]byte(`{"model": "vqae", "params": {` + tc.params + `}}`))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("params {%s}: %v, want an error naming %s", tc.params, err, tc.key)
		}
	}
	if _, err := framework.ParseConfig([]byte(`{"model": "vqae", "params": {"vq_type": "fsq", "vq_fsq_levels": "2,8"}}`)); err != nil {
		t.Errorf("levels 2,8: %v", err)
	}
}
