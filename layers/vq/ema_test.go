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

// emaStep runs q on z once, in training mode when training is set, under the scope
// "quantizer", and returns the codes and the StatDeadCodes statistic.
func emaStep(t *testing.T, store *model.Store, q Quantizer, z *tensors.Tensor, training bool) (codes []int32, dead float64) {
	t.Helper()
	exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) (*graph.Node, *graph.Node) {
		scope.Store().SetTraining(z.Graph(), training)
		out := q.Quantize(scope.In("quantizer"), z)
		return out.Index, out.Stats[StatDeadCodes]
	})
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	res, err := exec.Call(z)
	if err != nil {
		t.Fatalf("running %s: %v", q.Name(), err)
	}
	return tensors.MustCopyFlatData[int32](res[0]), scalarF64(t, res[1])
}

// emaVariable returns the flat float32 value of the EMA variable name under scope "quantizer".
func emaVariable(t *testing.T, store *model.Store, name string) []float32 {
	t.Helper()
	v := store.RootScope().In("quantizer").GetVariable(name)
	if v == nil {
		t.Fatalf("variable %q not found", name)
	}
	return tensors.MustCopyFlatData[float32](v.MustValue())
}

// setEMACodebook creates the codebook variable of an ema_vq under scope "quantizer" with rows.
func setEMACodebook(t *testing.T, store *model.Store, rows [][]float32) {
	t.Helper()
	if _, err := store.RootScope().In("quantizer").CreateVariable(emaCodebookVar, tensors.FromValue(rows)); err != nil {
		t.Fatal(err)
	}
}

// constantLatents returns n copies of p as a [n, len(p)] tensor.
func constantLatents(n int, p []float32) *tensors.Tensor {
	data := make([]float32, 0, n*len(p))
	for range n {
		data = append(data, p...)
	}
	return tensors.FromFlatDataAndDimensions(data, n, len(p))
}

func TestEMAContract(t *testing.T) {
	const b, h, w, d, k = 2, 3, 4, 3, 16
	params := map[string]any{ParamCodebookSize: k, ParamBeta: 0.5}
	store := seededStore(params)
	q := build(t, "ema_vq", params)
	if got := q.Name(); got != "ema_vq(K=16)" {
		t.Errorf("Name() = %q", got)
	}
	if _, ok := q.(DataInitializer); !ok {
		t.Errorf("ema_vq does not implement DataInitializer")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	z := gaussianTensor(rng, 1, b, h, w, d)
	run := runQuantizer(t, store, q, z, true)

	if got := run.quantized.Shape(); !got.Equal(z.Shape()) {
		t.Errorf("Quantized shape %s, want %s", got, z.Shape())
	}
	if got := run.index.Shape().Dimensions; len(got) != 3 || got[0] != b || got[1] != h || got[2] != w {
		t.Errorf("Codes dimensions %v, want [%d %d %d]", got, b, h, w)
	}
	// Codes are the nearest codebook rows, Quantized their values, Loss = β·mean‖z − q‖².
	codebook := emaVariable(t, store, emaCodebookVar)
	zs := tensors.MustCopyFlatData[float32](z)
	quantized := tensors.MustCopyFlatData[float32](run.quantized)
	codes := run.stageCodes[0]
	sqErr := 0.0
	for n, c := range codes {
		best, bestDist := -1, math.Inf(1)
		for j := range k {
			dist := 0.0
			for i := range d {
				diff := float64(zs[n*d+i] - codebook[j*d+i])
				dist += diff * diff
			}
			if dist < bestDist {
				best, bestDist = j, dist
			}
		}
		if int(c) != best {
			t.Fatalf("code of latent %d is %d, nearest row is %d", n, c, best)
		}
		for i := range d {
			if diff := math.Abs(float64(quantized[n*d+i] - codebook[int(c)*d+i])); diff > 1e-5 {
				t.Fatalf("quantized[%d][%d] = %g, codebook row %d has %g", n, i, quantized[n*d+i], c, codebook[int(c)*d+i])
			}
		}
		sqErr += bestDist
	}
	wantLoss := 0.5 * sqErr / float64(len(zs))
	if got := scalarF64(t, run.loss); math.Abs(got-wantLoss) > 1e-4*wantLoss {
		t.Errorf("Loss = %g, want β·mean‖z − q‖² = %g", got, wantLoss)
	}
	// Straight-through: ∂Σ(Quantized·r)/∂z = r.
	grad, r := tensors.MustCopyFlatData[float32](run.grad), tensors.MustCopyFlatData[float32](run.r)
	for i := range grad {
		if grad[i] != r[i] {
			t.Fatalf("∂Σ(Quantized·r)/∂z[%d] = %g, want r = %g", i, grad[i], r[i])
		}
	}
	wantPerplexity, wantUsed := codeStats(codes)
	if got := run.stats[StatUsedCodes]; int(got) != wantUsed {
		t.Errorf("%s = %g, want %d", StatUsedCodes, got, wantUsed)
	}
	if got := run.stats[StatCodePerplexity]; math.Abs(got-wantPerplexity) > 1e-3*wantPerplexity {
		t.Errorf("%s = %g, want %g", StatCodePerplexity, got, wantPerplexity)
	}
	if got, ok := run.stats[StatDeadCodes]; !ok || got != 0 {
		t.Errorf("%s = %g (present %v) outside training, want 0", StatDeadCodes, got, ok)
	}
	// Outside training nothing moves.
	if after := emaVariable(t, store, emaCodebookVar); fmt.Sprint(after) != fmt.Sprint(codebook) {
		t.Errorf("codebook changed by an inference step")
	}
	if n := emaVariable(t, store, emaClusterSizeVar); n[0] != 0 {
		t.Errorf("cluster sizes changed by an inference step: %v", n)
	}
}

// TestEMAUpdateFollowsEMARule checks two training steps against the EMA equations computed
// by hand, with every latent of the batch equal to a point p nearest to code 0.
func TestEMAUpdateFollowsEMARule(t *testing.T) {
	const gamma, eps = 0.9, 1e-5
	rows := [][]float32{{0, 0}, {10, 0}, {0, 10}, {10, 10}}
	p := []float32{1, 2}
	const k, d, batch = 4, 2, 6
	store := seededStore(nil)
	setEMACodebook(t, store, rows)
	q := build(t, "ema_vq", map[string]any{ParamCodebookSize: k, ParamEMADecay: gamma, ParamDeadCodeThreshold: 0.0})

	// Hand computation in float64; the averages start from N = 1, m = c.
	wantN := []float64{1, 1, 1, 1}
	wantM := make([][]float64, k)
	wantC := make([][]float64, k)
	for j := range k {
		wantM[j] = []float64{float64(rows[j][0]), float64(rows[j][1])}
	}
	for step := range 2 {
		codes, dead := emaStep(t, store, q, constantLatents(batch, p), true)
		for _, c := range codes {
			if c != 0 {
				t.Fatalf("step %d: code %d, want 0 for every latent", step, c)
			}
		}
		if dead != 0 {
			t.Errorf("step %d: %g dead codes with the threshold at 0", step, dead)
		}
		total := 0.0
		for j := range k {
			count := 0.0
			if j == 0 {
				count = batch
			}
			wantN[j] = gamma*wantN[j] + (1-gamma)*count
			for i := range d {
				wantM[j][i] = gamma*wantM[j][i] + (1-gamma)*count*float64(p[i])
			}
			total += wantN[j]
		}
		for j := range k {
			smoothed := (wantN[j] + eps) / (total + k*eps) * total
			wantC[j] = []float64{wantM[j][0] / smoothed, wantM[j][1] / smoothed}
		}

		gotC := emaVariable(t, store, emaCodebookVar)
		gotN := emaVariable(t, store, emaClusterSizeVar)
		gotM := emaVariable(t, store, emaSumVar)
		for j := range k {
			if math.Abs(float64(gotN[j])-wantN[j]) > 1e-5 {
				t.Errorf("step %d: N[%d] = %g, want %g", step, j, gotN[j], wantN[j])
			}
			for i := range d {
				if math.Abs(float64(gotM[j*d+i])-wantM[j][i]) > 1e-5*(1+math.Abs(wantM[j][i])) {
					t.Errorf("step %d: m[%d][%d] = %g, want %g", step, j, i, gotM[j*d+i], wantM[j][i])
				}
				if math.Abs(float64(gotC[j*d+i])-wantC[j][i]) > 1e-5*(1+math.Abs(wantC[j][i])) {
					t.Errorf("step %d: c[%d][%d] = %g, want %g", step, j, i, gotC[j*d+i], wantC[j][i])
				}
				// Unused rows keep their place (up to the Laplace smoothing, a 1e-5 effect).
				if j > 0 && math.Abs(float64(gotC[j*d+i]-rows[j][i])) > 1e-3 {
					t.Errorf("step %d: unused row %d moved: c[%d][%d] = %g, was %g", step, j, j, i, gotC[j*d+i], rows[j][i])
				}
			}
		}
	}
	// After the first step, row 0 moved from (0, 0) towards p by (1−γ)·6/N_0 of the way;
	// after two it is this much closer.
	gotC := emaVariable(t, store, emaCodebookVar)
	if dist := math.Hypot(float64(gotC[0]-p[0]), float64(gotC[1]-p[1])); dist >= math.Hypot(1, 2)*0.5 {
		t.Errorf("row 0 = (%g, %g) did not move towards p = %v", gotC[0], gotC[1], p)
	}
}

func TestEMADeadCodesReplacedByBatchLatents(t *testing.T) {
	const k, d, batch = 8, 3, 16
	rows := make([][]float32, k)
	for j := range rows {
		rows[j] = []float32{float32(100 * j), 50, -50} // Row 0 near the latents, the others far away.
	}
	rows[0] = []float32{0, 0, 0}
	store := seededStore(nil)
	setEMACodebook(t, store, rows)
	// Default threshold 1 and decay 0.99; with 16 ≥ 2K latents the threshold is not scaled.
	q := build(t, "ema_vq", map[string]any{ParamCodebookSize: k})
	rng := rand.New(rand.NewPCG(5, 6))
	z := gaussianTensor(rng, 1, batch, d)
	zs := tensors.MustCopyFlatData[float32](z)

	codes, dead := emaStep(t, store, q, z, true)
	for _, c := range codes {
		if c != 0 {
			t.Fatalf("code %d, want 0 for every latent", c)
		}
	}
	// N_j = 0.99 < 1 for the 7 unused codes; N_0 = 0.99 + 0.01·16 stays.
	if dead != k-1 {
		t.Errorf("%s = %g, want %d", StatDeadCodes, dead, k-1)
	}
	codebook := emaVariable(t, store, emaCodebookVar)
	sizes := emaVariable(t, store, emaClusterSizeVar)
	sums := emaVariable(t, store, emaSumVar)
	distinct := map[string]bool{}
	for j := 1; j < k; j++ {
		row := codebook[j*d : (j+1)*d]
		found := false
		for n := range batch {
			if fmt.Sprint(row) == fmt.Sprint(zs[n*d:(n+1)*d]) {
				found = true
			}
		}
		if !found {
			t.Errorf("dead code %d = %v is not a latent of the batch", j, row)
		}
		distinct[fmt.Sprint(row)] = true
		if sizes[j] != 1 {
			t.Errorf("N[%d] = %g, want the threshold 1", j, sizes[j])
		}
		for i := range d {
			if sums[j*d+i] != row[i] {
				t.Errorf("m[%d] = %v, want c·N = %v", j, sums[j*d:(j+1)*d], row)
				break
			}
		}
	}
	if len(distinct) < 3 {
		t.Errorf("the 7 dead codes took only %d distinct latents: not random draws", len(distinct))
	}
	if want := 0.99 + 0.01*batch; math.Abs(float64(sizes[0])-want) > 1e-5 {
		t.Errorf("N[0] = %g, want %g (a live code is not re-initialised)", sizes[0], want)
	}
}

// twoClusters returns n points around (+4, +4) and n around (−4, −4), with their labels.
func twoClusters(rng *rand.Rand, n int) (*tensors.Tensor, [][2]float64) {
	data := make([]float32, 0, 4*n)
	var means [2][2]float64
	for c, center := range []float32{4, -4} {
		for range n {
			x, y := center+float32(0.3*rng.NormFloat64()), center+float32(0.3*rng.NormFloat64())
			data = append(data, x, y)
			means[c][0] += float64(x) / float64(n)
			means[c][1] += float64(y) / float64(n)
		}
	}
	return tensors.FromFlatDataAndDimensions(data, 2*n, 2), means[:]
}

func TestEMAKMeansInitRecoversClusters(t *testing.T) {
	for seed := range 4 {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 9))
			z, means := twoClusters(rng, 50)
			store := model.NewStore()
			store.RootScope().SetParam(model.ParamInitialSeed, int64(seed+1))
			q := build(t, "ema_vq", map[string]any{ParamCodebookSize: 2, ParamKMeansIters: 5}).(*EMA)
			exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
				q.InitFromLatents(scope.In("quantizer"), z)
				return graph.ReduceAllSum(z)
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := exec.Call(z); err != nil {
				t.Fatal(err)
			}
			c := emaVariable(t, store, emaCodebookVar)
			if c[0] < 0 { // Centroids come in random order.
				c = []float32{c[2], c[3], c[0], c[1]}
			}
			for j := range 2 {
				for i := range 2 {
					if math.Abs(float64(c[2*j+i])-means[j][i]) > 1e-4 {
						t.Errorf("centroid %d = %v, want the cluster mean %v", j, c[2*j:2*j+2], means[j])
					}
				}
			}
			if m := emaVariable(t, store, emaSumVar); fmt.Sprint(m) != fmt.Sprint(emaVariable(t, store, emaCodebookVar)) {
				t.Errorf("m = %v, want the codebook", m)
			}
			if n := emaVariable(t, store, emaClusterSizeVar); n[0] != 1 || n[1] != 1 {
				t.Errorf("N = %v, want [1 1]", n)
			}
		})
	}
}

// TestKMeansFewerPointsThanCentroids: with N < K the centroids are drawn with replacement
// (all of them are data points before any iteration), and Lloyd's iterations end at a fixed
// point: every centroid that attracts points is their mean.
func TestKMeansFewerPointsThanCentroids(t *testing.T) {
	points := [][]float32{{1, 2}, {-3, 0}, {5, 5}}
	for _, iters := range []int{0, 10} {
		store := seededStore(nil)
		got, err := model.CallOnce(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) *graph.Node {
			return KMeans(scope, z, 5, iters)
		}, tensors.FromValue(points))
		if err != nil {
			t.Fatal(err)
		}
		centroids := got.Value().([][]float32)
		if len(centroids) != 5 {
			t.Fatalf("%d centroids, want 5", len(centroids))
		}
		sums := make([][2]float64, len(centroids))
		counts := make([]int, len(centroids))
		for _, p := range points {
			best, bestDist := 0, math.Inf(1)
			for j, c := range centroids {
				if dist := math.Hypot(float64(p[0]-c[0]), float64(p[1]-c[1])); dist < bestDist {
					best, bestDist = j, dist
				}
			}
			counts[best]++
			sums[best][0] += float64(p[0])
			sums[best][1] += float64(p[1])
		}
		for j, c := range centroids {
			if iters == 0 {
				found := false
				for _, p := range points {
					found = found || (c[0] == p[0] && c[1] == p[1])
				}
				if !found {
					t.Errorf("initial centroid %d = %v is not one of the points %v", j, c, points)
				}
			} else if counts[j] > 0 {
				mean := [2]float64{sums[j][0] / float64(counts[j]), sums[j][1] / float64(counts[j])}
				if math.Hypot(float64(c[0])-mean[0], float64(c[1])-mean[1]) > 1e-5 {
					t.Errorf("centroid %d = %v, want the mean %v of its %d points", j, c, mean, counts[j])
				}
			}
		}
	}
}

func TestEMAInvalidParamsNamed(t *testing.T) {
	for _, tc := range []struct {
		key   string
		value any
	}{
		{ParamEMADecay, 1.0},
		{ParamEMADecay, 1.5},
		{ParamDeadCodeThreshold, -1.0},
		{ParamCodebookSize, 0},
		{ParamKMeansIters, -2},
	} {
		t.Run(tc.key, func(t *testing.T) {
			err := Validate(map[string]any{ParamType: "ema_vq", tc.key: tc.value}, "")
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("%s=%v: error %v does not name the parameter", tc.key, tc.value, err)
			}
			_, err = NewEMA(EMAOptions{CodebookSize: 8, Decay: 0.9, KMeansIters: 1})
			if err != nil {
				t.Errorf("valid options refused: %v", err)
			}
		})
	}
}

// cyclingEMARun trains an ema_vq with K=64 codes on 2-D grid points, 16 latents per batch:
// batch b holds the points of slots 16·(b mod 4) … 16·(b mod 4)+15, so the code of each slot is
// used once every 4 batches. rows are the initial codebook, points the latent of each slot. It
// returns the dead codes re-initialised at each step, the codes in use over one more cycle
// of 4 batches (inference), and the final codebook.
func cyclingEMARun(t *testing.T, rows, points [][]float32, steps int) (dead []float64, used int, codebook []float32) {
	t.Helper()
	const k, batch = 64, 16
	store := seededStore(nil)
	setEMACodebook(t, store, rows)
	q := build(t, "ema_vq", map[string]any{ParamCodebookSize: k}) // τ = 1, γ = 0.99
	newExec := func(training bool) *model.Exec {
		exec, err := model.NewExec(testbackend.Go(t), store, func(scope *model.Scope, z *graph.Node) (*graph.Node, *graph.Node) {
			scope.Store().SetTraining(z.Graph(), training)
			out := q.Quantize(scope.In("quantizer"), z)
			return out.Index, out.Stats[StatDeadCodes]
		})
		if err != nil {
			t.Fatal(err)
		}
		return exec
	}
	batchOf := func(step int) *tensors.Tensor {
		data := make([]float32, 0, 2*batch)
		for i := range batch {
			data = append(data, points[(step%4)*batch+i]...)
		}
		return tensors.FromFlatDataAndDimensions(data, batch, 2)
	}
	train, infer := newExec(true), newExec(false)
	for step := range steps {
		res, err := train.Call(batchOf(step))
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, scalarF64(t, res[1]))
	}
	inUse := map[int32]bool{}
	for step := range 4 {
		res, err := infer.Call(batchOf(step))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tensors.MustCopyFlatData[int32](res[0]) {
			inUse[c] = true
		}
	}
	return dead, len(inUse), emaVariable(t, store, emaCodebookVar)
}

// TestEMADeadCodesWithFewLatentsPerBatch is fault 11: with K=64 codes and 16 latents per batch,
// each code used once every 4 batches has an EMA cluster size N_k ≈ 0.25, below the default
// threshold τ = 1. Before the threshold was scaled to the batch (θ = τ·min(1, n/(2K)) = 0.125),
// 48 codes were re-initialised at step 0 and ~55 at every step after, and 30 of the 64 codes
// were left in use. Now no code in steady use is re-initialised, while a code that no latent
// selects still is, once its N_k has decayed to θ (from 1: ln 8/−ln 0.99 ≈ 207 steps).
func TestEMADeadCodesWithFewLatentsPerBatch(t *testing.T) {
	const k, steps = 64, 300
	grid := make([][]float32, k)
	for j := range grid {
		grid[j] = []float32{float32(10 * (j % 8)), float32(10 * (j / 8))}
	}

	t.Run("steady use", func(t *testing.T) {
		dead, used, _ := cyclingEMARun(t, grid, grid, steps)
		for step, n := range dead {
			if n != 0 {
				t.Fatalf("step %d: %g codes re-initialised, want none (every code is used once every 4 batches)", step, n)
			}
		}
		if used != k {
			t.Errorf("%d of %d codes in use after %d steps, want all", used, k, steps)
		}
	})

	t.Run("one dead code", func(t *testing.T) {
		rows := append([][]float32(nil), grid...)
		rows[k-1] = []float32{1000, 1000} // far from every latent: never selected
		points := append([][]float32(nil), grid...)
		points[k-1] = grid[0] // the slot of the dead code holds code 0's point
		dead, used, codebook := cyclingEMARun(t, rows, points, steps)
		first, total := -1, 0.0
		for step, n := range dead {
			if n != 0 && first < 0 {
				first = step
			}
			total += n
		}
		t.Logf("first re-initialisation at step %d, %g in all", first, total)
		if first < 150 || first > 250 {
			t.Errorf("first re-initialisation at step %d, want ≈ 207, when N_k = 0.99^t reaches θ = 0.125", first)
		}
		if row := codebook[2*(k-1) : 2*k]; row[0] > 100 || row[1] > 100 {
			t.Errorf("dead code %d still at %v, want it moved onto a latent", k-1, row)
		}
		if used < k-1 {
			t.Errorf("%d of %d codes in use, want the %d codes the data selects", used, k, k-1)
		}
	})
}
