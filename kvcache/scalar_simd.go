//go:build amd64 && goexperiment.simd

package kvcache

import "simd/archsimd"

// channelCodesSIMD is channelCodesScalar on AVX-512, 16 channels of a token at a time, with
// the same values: q = (v − z)/s in float32, then round(q) as ⌊float64(q) + 0.5⌋ (float64(q)
// + 0.5 is exact for a float32 q ≥ 0, and any q < 0 clamps to code 0 either way, so this is
// math.Round's result), clamped to [0, 2^b−1]; x̂ = code·s + z, multiply and add rounded
// apart. It writes nothing and returns false where that does not hold or does not apply: no
// AVX-512, W not a multiple of 16, a zero scale (code 0 by definition) or a NaN scale or zero
// point (a NaN among the values).
func channelCodesSIMD(x []float32, w, bits int, grid []asymmetric, codes []uint8, deq []float32) bool {
	if !archsimd.X86.AVX512() || w%16 != 0 {
		return false
	}
	scale, zero := make([]float32, w), make([]float32, w)
	for ch, a := range grid {
		if a.scale == 0 || a.scale != a.scale || a.zero != a.zero {
			return false
		}
		scale[ch], zero[ch] = a.scale, a.zero
	}
	half := archsimd.BroadcastFloat64x8(0.5)
	lowest := archsimd.BroadcastFloat64x8(0)
	highest := archsimd.BroadcastFloat64x8(float64(int(1)<<bits - 1))
	for c0 := 0; c0 < w; c0 += 16 {
		s := archsimd.LoadFloat32x16Array((*[16]float32)(scale[c0:]))
		z := archsimd.LoadFloat32x16Array((*[16]float32)(zero[c0:]))
		for i := c0; i+16 <= len(x); i += w {
			q := archsimd.LoadFloat32x16Array((*[16]float32)(x[i:])).Sub(z).Div(s)
			lo := q.GetLo().ConvertToFloat64().Add(half).FloorScaled(0).Max(lowest).Min(highest).ConvertToInt32()
			hi := q.GetHi().ConvertToFloat64().Add(half).FloorScaled(0).Max(lowest).Min(highest).ConvertToInt32()
			k := archsimd.Int32x16{}.SetLo(lo).SetHi(hi)
			k.AsUint32x16().SaturateToUint8().StoreArray((*[16]uint8)(codes[i:]))
			if deq != nil {
				k.ConvertToFloat32().Mul(s).Add(z).StoreArray((*[16]float32)(deq[i:]))
			}
		}
	}
	return true
}

// channelRangeSIMD is channelRange for every channel of x [tokens, W] into lo and hi [W], 16
// channels at a time on AVX-512. The hardware's min and max agree with Go's except on NaN and
// on zeros of both signs: it returns false (lo and hi partly written) where a value is NaN,
// and takes a channel whose least or greatest value is a zero from channelRange. False too
// where it does not apply (no AVX-512, W not a multiple of 16).
func channelRangeSIMD(x []float32, w int, lo, hi []float32) bool {
	if !archsimd.X86.AVX512() || w%16 != 0 {
		return false
	}
	for c0 := 0; c0 < w; c0 += 16 {
		l := archsimd.LoadFloat32x16Array((*[16]float32)(x[c0:]))
		h, nan := l, l.IsNaN()
		for i := c0 + w; i+16 <= len(x); i += w {
			v := archsimd.LoadFloat32x16Array((*[16]float32)(x[i:]))
			l, h, nan = l.Min(v), h.Max(v), nan.Or(v.IsNaN())
		}
		if nan.ToBits() != 0 {
			return false
		}
		l.StoreArray((*[16]float32)(lo[c0:]))
		h.StoreArray((*[16]float32)(hi[c0:]))
		for ch := c0; ch < c0+16; ch++ {
			if lo[ch] == 0 || hi[ch] == 0 {
				lo[ch], hi[ch] = channelRange(x, w, ch)
			}
		}
	}
	return true
}
