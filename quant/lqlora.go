package quant

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// LQLoRAResult is a weight's decomposition W ≈ Q + B·A.
type LQLoRAResult struct {
	Q *Quantized
	A []float32 // [rank, in]
	B []float32 // [out, rank]
	// Errors holds ‖W − Q − B·A‖_F after each round (the kept decomposition is the best).
	Errors []float64
}

// LQLoRA decomposes w [out, in] into a quantized matrix and a rank-r product (Guo et al.
// 2024, "LQ-LoRA", Algorithm 1): starting from L = 0, alternate Q = quant(W − L) and
// L = SVD_r(W − Q), up to iters rounds, stopping as soon as ‖W − Q − L‖_F rises; the best
// round is returned, with L = B·A split as B = U√Σ, A = √Σ Vᵀ.
func LQLoRA(w []float32, out, in int, spec Spec, fisher []float32, rank, iters int) (*LQLoRAResult, error) {
	if rank < 1 || rank > min(out, in) {
		return nil, fmt.Errorf("rank %d out of [1, %d]", rank, min(out, in))
	}
	W := mat.NewDense(out, in, f64s(w))
	L := mat.NewDense(out, in, nil)
	var best *LQLoRAResult
	var errs []float64
	for range iters {
		var R mat.Dense
		R.Sub(W, L)
		q, err := Quantize(f32s(R.RawMatrix().Data), out, in, spec, fisher)
		if err != nil {
			return nil, err
		}
		Q := mat.NewDense(out, in, f64s(q.Dequantize()))
		var resid mat.Dense
		resid.Sub(W, Q)
		var svd mat.SVD
		if !svd.Factorize(&resid, mat.SVDThin) {
			return nil, errors.New("SVD did not converge")
		}
		var u, v mat.Dense
		svd.UTo(&u)
		svd.VTo(&v)
		sv := svd.Values(nil)
		a := make([]float32, rank*in)
		b := make([]float32, out*rank)
		for k := range rank {
			s := math.Sqrt(sv[k])
			for i := range out {
				b[i*rank+k] = float32(u.At(i, k) * s)
			}
			for j := range in {
				a[k*in+j] = float32(v.At(j, k) * s)
			}
		}
		L = mat.NewDense(out, in, nil)
		L.Mul(mat.NewDense(out, rank, f64s(b)), mat.NewDense(rank, in, f64s(a)))
		var e mat.Dense
		e.Sub(&resid, L)
		errNorm := mat.Norm(&e, 2)
		errs = append(errs, errNorm)
		if best != nil && errNorm >= best.Errors[len(best.Errors)-1] {
			break
		}
		best = &LQLoRAResult{Q: q, A: a, B: b, Errors: append([]float64(nil), errs...)}
	}
	best.Errors = errs
	return best, nil
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// AllocationChoice is the storage and the error of one code width for a layer: the
// Fisher-weighted error Σ F·(W − Ŵ)² of the quantized weight (uniform weights when fisher is
// nil), or, for LQ-LoRA, the same error of Q + L₁L₂ after its decomposition (the cost its
// integer linear program minimises, Guo et al. 2024 §3.2); the low-rank factors' storage is
// the same for every width and left out.
func AllocationChoice(w []float32, out, in int, spec Spec, fisher []float32, rank, iters int) (Choice, error) {
	if iters > 0 {
		res, err := LQLoRA(w, out, in, spec, fisher, rank, iters)
		if err != nil {
			return Choice{}, err
		}
		approx := res.Q.Dequantize()
		for i := range out {
			for j := range in {
				var s float32
				for k := range rank {
					s += res.B[i*rank+k] * res.A[k*in+j]
				}
				approx[i*in+j] += s
			}
		}
		return Choice{Label: spec.String(), Bits: res.Q.Bits(), Cost: WeightedError(w, approx, fisher)}, nil
	}
	q, err := Quantize(w, out, in, spec, fisher)
	if err != nil {
		return Choice{}, err
	}
	return Choice{Label: spec.String(), Bits: q.Bits(), Cost: WeightedError(w, q.Dequantize(), fisher)}, nil
}
