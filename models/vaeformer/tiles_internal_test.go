package vaeformer

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qzoo/qzoo/framework"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestTilesCoverGrid: for token grids of 1 to 40 along an axis and several tilings, the cores
// cover every token exactly once, start at even tokens, and lie inside their spans, which all
// have the same size, min(n, core + 2·halo), and lie inside the grid.
func TestTilesCoverGrid(t *testing.T) {
	for _, tl := range []Tiling{{2, 0}, {2, 1}, {4, 2}, {8, 2}, {6, 3}} {
		for n := 1; n <= 40; n++ {
			cores, s := axisTiles(n, tl)
			if s != min(n, tl.Span()) {
				t.Fatalf("%+v, %d tokens: span %d", tl, n, s)
			}
			next := 0
			for _, c := range cores {
				a, b, sr := c[0], c[1], c[2]
				if a != next || a%2 != 0 || b <= a || sr < 0 || sr > a || sr+s < b || sr+s > n {
					t.Fatalf("%+v, %d tokens: core [%d, %d) span from %d (size %d)", tl, n, a, b, sr, s)
				}
				next = b
			}
			if next != n {
				t.Fatalf("%+v, %d tokens: cores end at %d", tl, n, next)
			}
		}
	}
	for _, bad := range []Tiling{{0, 1}, {3, 1}, {2, -1}, {256, 1}} {
		if bad.Validate() == nil {
			t.Errorf("tiling %+v accepted", bad)
		}
	}
}

// TestReadTiling: a payload starting with the marker gives its tiling back, one that does not
// is untiled and left whole, and a truncated or invalid header is corrupt.
func TestReadTiling(t *testing.T) {
	c := &Codec{patch: 4, Tiling: Tiling{Core: 4, Halo: 1}}
	h := c.tilingHeader(Geometry{T: 1, H: 33, W: 49})
	tl, rest, err := readTiling(append(h, 7, 8))
	if err != nil || tl == nil || *tl != c.Tiling || len(rest) != 2 {
		t.Fatalf("tiling %v, rest %v, error %v", tl, rest, err)
	}
	if h := c.tilingHeader(Geometry{T: 1, H: 20, W: 24}); h != nil {
		t.Fatalf("a grid of one span got tiling header %v", h)
	}
	if tl, rest, err := readTiling([]byte{5, 1, 2}); tl != nil || len(rest) != 3 || err != nil {
		t.Fatalf("untiled payload read as %v, %v, %v", tl, rest, err)
	}
	for _, bad := range [][]byte{{0}, {0, 4}, {0, 3, 1}, {0, 0x80}} {
		if _, _, err := readTiling(bad); err == nil {
			t.Errorf("header %v accepted", bad)
		}
	}
}

// TestMemoryRefused: on a machine posing as having 1 GiB available, a week of a 0.25° global
// grid is refused for decompression before anything is allocated, the error naming the size
// needed and the size available; the estimate grows with the hours and the grid.
func TestMemoryRefused(t *testing.T) {
	c := &Codec{patch: 4, Window: 8, Channels: []string{"t2m"}, Tiling: DefaultTiling,
		Entropy: &EntropyModel{cy: 16, cz: 8}, Params: map[string]any{ParamDim: 64, ParamHeads: 4}}
	day, year := Geometry{T: 24, H: 721, W: 1440}, Geometry{T: 8760, H: 721, W: 1440}
	if a, b := c.MemoryEstimate(day, true), c.MemoryEstimate(year, true); !(a < b) || a < 4*24*721*1440 {
		t.Fatalf("estimates %d and %d bytes", a, b)
	}
	uk := Geometry{T: 24, H: 33, W: 49}
	if a, b := c.MemoryEstimate(uk, false), c.MemoryEstimate(day, false); !(a < b) {
		t.Fatalf("estimates %d (UK) and %d (global) bytes", a, b)
	}
	saved := availableMemory
	defer func() { availableMemory = saved }()
	availableMemory = func() (int64, bool) { return 1 << 30, true }
	err := c.checkMemory(Geometry{T: 168, H: 721, W: 1440}, &c.Tiling, true)
	if err == nil || !strings.Contains(err.Error(), "GiB") || !strings.Contains(err.Error(), "1.0 GiB is available") {
		t.Fatalf("error %v", err)
	}
	t.Log(err)
	if err := c.checkMemory(uk, nil, true); err != nil {
		t.Fatalf("UK day refused: %v", err)
	}
	// Untiled, one hour of the 1° grid (46×90 tokens) needs its attention weights whole.
	deg := Geometry{T: 1, H: 181, W: 360}
	if a, b := c.memoryEstimate(deg, c.Tiling, true), c.memoryEstimate(deg, Tiling{Core: 90}, true); !(b > a+1<<30) {
		t.Fatalf("1° hour: tiled estimate %d bytes, untiled %d", a, b)
	}
}

// TestCoreGraphsMatchWhole: the core-only graphs of tiles (EncodeCore, DecodeCore: the last
// block computed for the core's tokens alone) give Encode's means and Decode's windows at the
// core, on the pure-Go backend with a randomly initialised model, for cores inside the span,
// at its corner and as wide as it.
func TestCoreGraphsMatchWhole(t *testing.T) {
	backend, err := framework.NewBackendFromSpec(framework.GoBackend)
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Finalize()
	const b, w, ch, p, sh, sw = 2, 2, 1, 4, 6, 7
	for _, k := range []struct{ cq, cw, r, c int }{{4, 3, 1, 3}, {2, 2, 0, 0}, {6, 7, 0, 0}, {3, 7, 3, 0}} {
		store := model.NewStore() // the first graph initialises the variables, the second reads them
		whole, err := model.NewExec(backend, store, func(scope *model.Scope, x, y *graph.Node) []*graph.Node {
			enc := Encode(scope, x).Mean
			dec := Decode(scope, y, []int{b, w, ch, sh * p, sw * p})
			return []*graph.Node{
				graph.Slice(enc, graph.AxisRange(), graph.AxisRange(k.r, k.r+k.cq), graph.AxisRange(k.c, k.c+k.cw)),
				graph.Slice(dec, graph.AxisRange(), graph.AxisRange(), graph.AxisRange(), graph.AxisRange(k.r*p, (k.r+k.cq)*p), graph.AxisRange(k.c*p, (k.c+k.cw)*p)),
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		core, err := model.NewExec(backend, store, func(scope *model.Scope, x, y, idx *graph.Node) []*graph.Node {
			return []*graph.Node{EncodeCore(scope, x, k.cq, k.cw, idx), DecodeCore(scope, y, w, ch, k.cq, k.cw, idx)}
		})
		if err != nil {
			t.Fatal(err)
		}
		x := tensors.FromShape(shapes.Make(dtypes.Float32, b, w, ch, sh*p, sw*p))
		y := tensors.FromShape(shapes.Make(dtypes.Float32, b, sh, sw, 16))
		for i, v := range []*tensors.Tensor{x, y} {
			tensors.MutableFlatData(v, func(f []float32) {
				for j := range f {
					f[j] = float32(math.Sin(float64(7*j+i))) * 2
				}
			})
		}
		wantOut, err := whole.Exec(x, y)
		if err != nil {
			t.Fatal(err)
		}
		gotOut, err := core.Exec(x, y, CoreIndices(sw, k.cq, k.cw, k.r, k.c))
		if err != nil {
			t.Fatal(err)
		}
		for i := range wantOut {
			want, err1 := tensors.CopyFlatData[float32](wantOut[i])
			got, err2 := tensors.CopyFlatData[float32](gotOut[i])
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !slices.Equal(wantOut[i].Shape().Dimensions, gotOut[i].Shape().Dimensions) {
				t.Fatalf("core %+v: shape %v, want %v", k, gotOut[i].Shape(), wantOut[i].Shape())
			}
			worst := 0.0
			for j := range want {
				worst = max(worst, math.Abs(float64(got[j]-want[j])))
			}
			if worst > 1e-5 {
				t.Errorf("core %+v, output %d: differs from the whole graph's by up to %g", k, i, worst)
			}
		}
		whole.Finalize()
		core.Finalize()
	}
}
