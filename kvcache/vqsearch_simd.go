//go:build amd64 && goexperiment.simd

package kvcache

import (
	"math"

	"simd/archsimd"
)

// vqLanes is the rows one AVX-512 step of vqNearestColumns measures.
const vqLanes = 16

// vqColumns returns book [K, d] transposed to [d, K] for vqNearestColumns, or nil where that
// search does not apply (no AVX-512, or K not a multiple of vqLanes).
func vqColumns(book []float32, d int) []float32 {
	k := len(book) / d
	if !archsimd.X86.AVX512() || k%vqLanes != 0 {
		return nil
	}
	cols := make([]float32, len(book))
	for j := range k {
		for i := range d {
			cols[i*k+j] = book[j*d+i]
		}
	}
	return cols
}

// vqNearestColumns is vqNearest(v, book) over cols = vqColumns(book, len(v)): 16 rows at a
// time, each lane summing its row's squared differences in vqSqDist's order (v−c, squared,
// added to a running sum from 0; separate multiply and add, no FMA, as the scalar loop
// compiles on amd64), so every distance is vqSqDist's to the bit. Each lane keeps the first
// row at its least distance (strictly less replaces), and the lanes' minimum goes to the
// lowest row among equals: the first row at the least distance, or row 0 when no distance is
// below +Inf (NaN or infinite values), as the full search.
func vqNearestColumns(v, cols []float32) int {
	d := len(v)
	k := len(cols) / d
	inf := float32(math.Inf(1))
	best := archsimd.BroadcastFloat32x16(inf)
	bestRow := archsimd.BroadcastInt32x16(0)
	row := archsimd.LoadInt32x16Array(&[vqLanes]int32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	step := archsimd.BroadcastInt32x16(vqLanes)
	if d == 4 {
		v0, v1 := archsimd.BroadcastFloat32x16(v[0]), archsimd.BroadcastFloat32x16(v[1])
		v2, v3 := archsimd.BroadcastFloat32x16(v[2]), archsimd.BroadcastFloat32x16(v[3])
		c0, c1, c2, c3 := cols[:k], cols[k:2*k], cols[2*k:3*k], cols[3*k:4*k]
		for j := 0; j+vqLanes <= k; j += vqLanes {
			diff := v0.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c0[j:])))
			s := diff.Mul(diff)
			diff = v1.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c1[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v2.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c2[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v3.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c3[j:])))
			s = s.Add(diff.Mul(diff))
			nearer := s.Less(best)
			best = s.IfElse(nearer, best)
			bestRow = row.IfElse(nearer, bestRow)
			row = row.Add(step)
		}
		return vqLaneMin(best, bestRow)
	}
	if d == 8 {
		v0, v1 := archsimd.BroadcastFloat32x16(v[0]), archsimd.BroadcastFloat32x16(v[1])
		v2, v3 := archsimd.BroadcastFloat32x16(v[2]), archsimd.BroadcastFloat32x16(v[3])
		v4, v5 := archsimd.BroadcastFloat32x16(v[4]), archsimd.BroadcastFloat32x16(v[5])
		v6, v7 := archsimd.BroadcastFloat32x16(v[6]), archsimd.BroadcastFloat32x16(v[7])
		c0, c1, c2, c3 := cols[:k], cols[k:2*k], cols[2*k:3*k], cols[3*k:4*k]
		c4, c5, c6, c7 := cols[4*k:5*k], cols[5*k:6*k], cols[6*k:7*k], cols[7*k:8*k]
		for j := 0; j+vqLanes <= k; j += vqLanes {
			diff := v0.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c0[j:])))
			s := diff.Mul(diff)
			diff = v1.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c1[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v2.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c2[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v3.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c3[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v4.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c4[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v5.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c5[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v6.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c6[j:])))
			s = s.Add(diff.Mul(diff))
			diff = v7.Sub(archsimd.LoadFloat32x16Array((*[vqLanes]float32)(c7[j:])))
			s = s.Add(diff.Mul(diff))
			nearer := s.Less(best)
			best = s.IfElse(nearer, best)
			bestRow = row.IfElse(nearer, bestRow)
			row = row.Add(step)
		}
		return vqLaneMin(best, bestRow)
	}
	for j := 0; j < k; j += vqLanes {
		var s archsimd.Float32x16
		for i, x := range v {
			c := (*[vqLanes]float32)(cols[i*k+j:])
			diff := archsimd.BroadcastFloat32x16(x).Sub(archsimd.LoadFloat32x16Array(c))
			s = s.Add(diff.Mul(diff))
		}
		nearer := s.Less(best)
		best = s.IfElse(nearer, best)
		bestRow = row.IfElse(nearer, bestRow)
		row = row.Add(step)
	}
	return vqLaneMin(best, bestRow)
}

// vqLaneMin is the row of the least distance among the lanes' best (dist) and their rows,
// the lowest row among equal distances, or row 0 when no distance is below +Inf.
func vqLaneMin(dist archsimd.Float32x16, rows archsimd.Int32x16) int {
	var d [vqLanes]float32
	var r [vqLanes]int32
	dist.StoreArray(&d)
	rows.StoreArray(&r)
	inf := float32(math.Inf(1))
	out, outD := 0, inf
	for l, dl := range d {
		if dl < outD || dl == outD && dl < inf && int(r[l]) < out {
			out, outD = int(r[l]), dl
		}
	}
	return out
}
