// Package reference is an independent float64 implementation of the llama2.c forward pass in
// plain Go (no GoMLX), one token at a time with a key/value cache, as llama2.c's run.c
// computes it. It is the yardstick of models/llama's tests and a readable statement of the
// architecture:
//
//	h   = x + Wo · Attention(RoPE(Wq·n), RoPE(Wk·n), Wv·n),   n = RMSNorm(x)·g_att
//	out = h + W2 · (SiLU(W1·m) ⊙ W3·m),                        m = RMSNorm(h)·g_ffn
//	RMSNorm(x) = x / sqrt(mean(x²) + ε)          (ε = Config.NormEps, llama2.c's 1e-5)
//
// RoPE rotates adjacent pairs (2i, 2i+1) of each head by p·θ_i, θ_i = b^(−2i/head_dim) with
// b = Config.RoPETheta (llama2.c's 10000), each rate rescaled by Config.RoPEScaling (Llama 3.1's
// rule, or linear: layers/position's RoPEScaling.Scale, the one statement of the rule, which
// its tests check against hand-computed values and transformers' formula, and
// models/llama's tests against numpy's forward pass that scales on its own); with
// Config.AttnBias, Wq·n, Wk·n and Wv·n add their biases before RoPE;
// attention is causal, with query head h reading key/value head h / (heads / kv_heads).
// The logits are Wcls · RMSNorm(x)·g_final, with Wcls the token embedding when tied.
package reference

import (
	"math"

	"github.com/qzoo/qzoo/layers/position"
	"github.com/qzoo/qzoo/models/llama"
)

// Model runs a checkpoint's weights in float64.
type Model struct {
	w      *llama.Weights
	keys   [][]float64 // per layer: [pos, KVDim]
	values [][]float64
}

// New returns a model with an empty cache.
func New(w *llama.Weights) *Model {
	return &Model{w: w, keys: make([][]float64, w.Layers), values: make([][]float64, w.Layers)}
}

// Len is the number of positions in the cache.
func (m *Model) Len() int { return len(m.keys[0]) / m.w.KVDim() }

// Forward feeds token at the next position (Len()) and returns its logits [VocabSize].
func (m *Model) Forward(token int) []float64 {
	c := m.w.Config
	d, hd, kvd := c.Dim, c.HeadDim(), c.KVDim()
	pos := m.Len()
	x := f64(m.w.Embedding[token*d : (token+1)*d])
	for li := range m.w.Blocks {
		l := &m.w.Blocks[li]
		n := rmsNorm(x, l.AttnNorm, c.NormEps)
		q := matVec(l.WQ, n, d)
		k := matVec(l.WK, n, kvd)
		v := matVec(l.WV, n, kvd)
		if c.AttnBias {
			add(q, f64(l.BQ))
			add(k, f64(l.BK))
			add(v, f64(l.BV))
		}
		rope(q, pos, hd, c.RoPETheta, c.RoPEScaling)
		rope(k, pos, hd, c.RoPETheta, c.RoPEScaling)
		m.keys[li] = append(m.keys[li], k...)
		m.values[li] = append(m.values[li], v...)
		att := make([]float64, d)
		group := c.Heads / c.KVHeads
		for h := range c.Heads {
			kvh := h / group
			qh := q[h*hd : (h+1)*hd]
			scores := make([]float64, pos+1)
			for t := range scores {
				kt := m.keys[li][t*kvd+kvh*hd : t*kvd+(kvh+1)*hd]
				scores[t] = dot(qh, kt) / math.Sqrt(float64(hd))
			}
			softmax(scores)
			out := att[h*hd : (h+1)*hd]
			for t, s := range scores {
				vt := m.values[li][t*kvd+kvh*hd : t*kvd+(kvh+1)*hd]
				for i := range out {
					out[i] += s * vt[i]
				}
			}
		}
		add(x, matVec(l.WO, att, d))
		n = rmsNorm(x, l.FFNNorm, c.NormEps)
		g := matVec(l.W1, n, c.HiddenDim)
		u := matVec(l.W3, n, c.HiddenDim)
		for i := range g {
			g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
		}
		add(x, matVec(l.W2, g, d))
	}
	x = rmsNorm(x, m.w.NormFinal, c.NormEps)
	cls := m.w.Classifier
	if c.Shared {
		cls = m.w.Embedding
	}
	return matVec(cls, x, c.VocabSize)
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// matVec is W·x for W of shape [rows, len(x)] row-major.
func matVec(w []float32, x []float64, rows int) []float64 {
	out := make([]float64, rows)
	n := len(x)
	for r := range out {
		var s float64
		for i, xi := range x {
			s += float64(w[r*n+i]) * xi
		}
		out[r] = s
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func add(x, y []float64) {
	for i := range x {
		x[i] += y[i]
	}
}

func rmsNorm(x []float64, g []float32, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * inv * float64(g[i])
	}
	return out
}

// rope rotates each pair (2i, 2i+1) of every head of v by pos·θ_i, θ_i = base^(−2i/headDim)
// rescaled by scaling.
func rope(v []float64, pos, headDim int, base float64, scaling position.RoPEScaling) {
	for h := 0; h < len(v); h += headDim {
		for i := 0; i < headDim/2; i++ {
			a := float64(pos) * scaling.Scale(1/math.Pow(base, float64(2*i)/float64(headDim)))
			cos, sin := math.Cos(a), math.Sin(a)
			x0, x1 := v[h+2*i], v[h+2*i+1]
			v[h+2*i] = x0*cos - x1*sin
			v[h+2*i+1] = x0*sin + x1*cos
		}
	}
}

func softmax(x []float64) {
	mx := math.Inf(-1)
	for _, v := range x {
		mx = max(mx, v)
	}
	var s float64
	for i, v := range x {
		x[i] = math.Exp(v - mx)
		s += x[i]
	}
	for i := range x {
		x[i] /= s
	}
}
