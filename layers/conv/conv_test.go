package conv_test

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
	"github.com/qzoo/qzoo/layers/conv"
)

// array is a float64 row-major array ([B, H, W, C], [kH, kW, Cin, Cout], [B, L, C], ...) for the
// reference implementations.
type array struct {
	dims []int
	data []float64
}

func newArray(dims ...int) array {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return array{dims: slices.Clone(dims), data: make([]float64, n)}
}

// index is the flat position of the element at idx (one index per axis).
func (a array) index(idx ...int) int {
	i := 0
	for axis, d := range a.dims {
		i = i*d + idx[axis]
	}
	return i
}

func randomArray(rng *rand.Rand, dims ...int) array {
	a := newArray(dims...)
	for i := range a.data {
		// Values exactly representable in float32, so the graph sees the same numbers as the reference.
		a.data[i] = float64(float32(2*rng.Float64() - 1))
	}
	return a
}

func (a array) tensor() *tensors.Tensor {
	flat := make([]float32, len(a.data))
	for i, v := range a.data {
		flat[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(flat, a.dims...)
}

func fromTensor(t *testing.T, x *tensors.Tensor) array {
	t.Helper()
	a := newArray(x.Shape().Dimensions...)
	for i, v := range tensors.MustCopyFlatData[float32](x) {
		a.data[i] = float64(v)
	}
	return a
}

// refConv2D is PyTorch's conv2d definition written as plain loops:
// y[b,Y,X,o] = Σ_{i,j,c} x[b, s·Y+i−p, s·X+j−p, c]·k[i,j,c,o], out-of-range x being zero.
func refConv2D(x, k array, s, p int) array {
	batch, h, w, cin := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
	kh, kw, cout := k.dims[0], k.dims[1], k.dims[3]
	ho, wo := (h+2*p-kh)/s+1, (w+2*p-kw)/s+1
	y := newArray(batch, ho, wo, cout)
	for b := range batch {
		for oy := range ho {
			for ox := range wo {
				for o := range cout {
					var sum float64
					for i := range kh {
						for j := range kw {
							iy, ix := s*oy+i-p, s*ox+j-p
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							for c := range cin {
								sum += x.data[x.index(b, iy, ix, c)] * k.data[k.index(i, j, c, o)]
							}
						}
					}
					y.data[y.index(b, oy, ox, o)] = sum
				}
			}
		}
	}
	return y
}

// refConvTranspose2D is PyTorch's conv_transpose2d definition written as plain loops, in its scatter
// form: every input pixel x[b,y,x,c] adds x·k[i,j,c,o] to y[b, s·y−p+i, s·x−p+j, o] when inside.
func refConvTranspose2D(x, k array, s, p int) array {
	batch, h, w, cin := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
	kh, kw, cout := k.dims[0], k.dims[1], k.dims[3]
	ho, wo := (h-1)*s-2*p+kh, (w-1)*s-2*p+kw
	y := newArray(batch, ho, wo, cout)
	for b := range batch {
		for iy := range h {
			for ix := range w {
				for c := range cin {
					v := x.data[x.index(b, iy, ix, c)]
					for i := range kh {
						for j := range kw {
							oy, ox := s*iy-p+i, s*ix-p+j
							if oy < 0 || oy >= ho || ox < 0 || ox >= wo {
								continue
							}
							for o := range cout {
								y.data[y.index(b, oy, ox, o)] += v * k.data[k.index(i, j, c, o)]
							}
						}
					}
				}
			}
		}
	}
	return y
}

// bilinearCase is one configuration of a convolution with a small input: its graph op, its plain-Go
// reference and its random data. The forward and gradient tests run every case on every backend.
type bilinearCase interface {
	fmt.Stringer
	apply(x, k *graph.Node) *graph.Node
	ref(x, k array) array
	data(seed uint64) (x, k array)
}

// allCases are the 2-D cases, then the 1-D ones.
func allCases() []bilinearCase {
	var cases []bilinearCase
	for _, c := range convCases {
		cases = append(cases, c)
	}
	for _, c := range conv1DCases {
		cases = append(cases, c)
	}
	return cases
}

// convCase is one configuration of a 2-D convolution kind, with a small input.
type convCase struct {
	transpose              bool
	kernel, stride, pad    int
	batch, h, w, cin, cout int
}

func (c convCase) String() string {
	kind := "conv"
	if c.transpose {
		kind = "transpose"
	}
	return fmt.Sprintf("%s_k%d_s%d_p%d_%dx%d", kind, c.kernel, c.stride, c.pad, c.h, c.w)
}

func (c convCase) apply(x, k *graph.Node) *graph.Node {
	if c.transpose {
		return conv.ConvTranspose2D(x, k, c.stride, c.pad)
	}
	return conv.Conv2D(x, k, c.stride, c.pad)
}

func (c convCase) ref(x, k array) array {
	if c.transpose {
		return refConvTranspose2D(x, k, c.stride, c.pad)
	}
	return refConv2D(x, k, c.stride, c.pad)
}

func (c convCase) data(seed uint64) (x, k array) {
	rng := rand.New(rand.NewPCG(seed, 7))
	return randomArray(rng, c.batch, c.h, c.w, c.cin), randomArray(rng, c.kernel, c.kernel, c.cin, c.cout)
}

// The kinds the zoo uses (first four), then odd sizes, odd kernels with stride, and larger strides.
var convCases = []convCase{
	{kernel: 3, stride: 1, pad: 1, batch: 2, h: 6, w: 5, cin: 3, cout: 4},
	{kernel: 4, stride: 2, pad: 1, batch: 2, h: 8, w: 6, cin: 3, cout: 4},
	{kernel: 1, stride: 1, pad: 0, batch: 2, h: 5, w: 4, cin: 3, cout: 4},
	{transpose: true, kernel: 4, stride: 2, pad: 1, batch: 2, h: 4, w: 3, cin: 3, cout: 4},
	{kernel: 4, stride: 2, pad: 1, batch: 1, h: 7, w: 5, cin: 2, cout: 3},
	{kernel: 3, stride: 2, pad: 1, batch: 1, h: 7, w: 6, cin: 2, cout: 3},
	{kernel: 5, stride: 1, pad: 2, batch: 1, h: 6, w: 7, cin: 2, cout: 3},
	{kernel: 2, stride: 1, pad: 1, batch: 1, h: 5, w: 4, cin: 2, cout: 3},
	{kernel: 5, stride: 3, pad: 0, batch: 1, h: 11, w: 9, cin: 2, cout: 3},
	{transpose: true, kernel: 3, stride: 2, pad: 1, batch: 1, h: 4, w: 5, cin: 2, cout: 3},
	{transpose: true, kernel: 3, stride: 1, pad: 1, batch: 1, h: 4, w: 5, cin: 2, cout: 3},
	{transpose: true, kernel: 5, stride: 3, pad: 2, batch: 1, h: 3, w: 4, cin: 2, cout: 3},
	// Fewer output than input channels: validConv's own input gradient (the transposed convolution).
	{kernel: 3, stride: 1, pad: 1, batch: 2, h: 5, w: 6, cin: 5, cout: 2},
	{kernel: 2, stride: 1, pad: 1, batch: 1, h: 4, w: 5, cin: 4, cout: 3},
	{kernel: 4, stride: 2, pad: 1, batch: 2, h: 6, w: 8, cin: 3, cout: 2},
	{transpose: true, kernel: 4, stride: 2, pad: 1, batch: 2, h: 4, w: 5, cin: 6, cout: 1},
}

func maxAbsDiff(t *testing.T, got, want array) float64 {
	t.Helper()
	if !slices.Equal(got.dims, want.dims) {
		t.Fatalf("shape %v, want %v", got.dims, want.dims)
	}
	var d float64
	for i := range got.data {
		d = max(d, math.Abs(got.data[i]-want.data[i]))
	}
	return d
}

func TestForwardMatchesReference(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for i, c := range allCases() {
			t.Run(c.String(), func(t *testing.T) {
				x, k := c.data(uint64(i))
				got, err := graph.CallOnce(backend, c.apply, x.tensor(), k.tensor())
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(t, fromTensor(t, got), c.ref(x, k)); d > 1e-5 {
					t.Errorf("max |graph − reference| = %g, want ≤ 1e-5", d)
				}
			})
		}
	})
}

// TestGradients checks, for f(x, k) = Σ conv(x, k)·r:
//   - Euler's identity for the bilinear f: ⟨∂f/∂x, x⟩ = f and ⟨∂f/∂k, k⟩ = f;
//   - every gradient coordinate against the reference: f is linear in x, so ∂f/∂x_i = f(e_i, k) exactly,
//     computed with the plain-Go reference in float64 (likewise for k);
//   - central finite differences of the graph's own f on a few coordinates (exact for a linear f, up to
//     float32 rounding, so the step is 1).
func TestGradients(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		for i, c := range allCases() {
			t.Run(c.String(), func(t *testing.T) {
				checkGradients(t, backend, c, uint64(100+i))
			})
		}
	})
}

func checkGradients(t *testing.T, backend compute.Backend, c bilinearCase, seed uint64) {
	x, k := c.data(seed)
	yRef := c.ref(x, k)
	r := randomArray(rand.New(rand.NewPCG(seed, 11)), yRef.dims...)
	objective := func(x, k, r *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(c.apply(x, k), r)) }
	gradExec, err := graph.NewExec(backend, func(in []*graph.Node) []*graph.Node {
		f := objective(in[0], in[1], in[2])
		return append([]*graph.Node{f}, graph.Gradient(f, in[0], in[1])...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gradExec.Finalize()
	out, err := gradExec.Call(x.tensor(), k.tensor(), r.tensor())
	if err != nil {
		t.Fatal(err)
	}
	f := float64(tensors.MustCopyFlatData[float32](out[0])[0])
	gx, gk := fromTensor(t, out[1]), fromTensor(t, out[2])

	fRef := dot(yRef.data, r.data)
	if !near(f, fRef, 1e-4) {
		t.Errorf("f = %g, reference %g", f, fRef)
	}
	if xgx := dot(gx.data, x.data); !near(xgx, f, 1e-4) {
		t.Errorf("Euler: ⟨∂f/∂x, x⟩ = %g, want f = %g", xgx, f)
	}
	if kgk := dot(gk.data, k.data); !near(kgk, f, 1e-4) {
		t.Errorf("Euler: ⟨∂f/∂k, k⟩ = %g, want f = %g", kgk, f)
	}

	// Exact directional derivatives from the reference: ∂f/∂x_i = ⟨conv(e_i, k), r⟩.
	scale := max(maxAbs(gx.data), maxAbs(gk.data))
	unit := func(a array, i int) array {
		e := newArray(a.dims...)
		e.data[i] = 1
		return e
	}
	for i := range x.data {
		want := dot(c.ref(unit(x, i), k).data, r.data)
		if math.Abs(gx.data[i]-want) > 1e-5*scale+1e-6 {
			t.Errorf("∂f/∂x[%d] = %g, reference %g", i, gx.data[i], want)
			break
		}
	}
	for i := range k.data {
		want := dot(c.ref(x, unit(k, i)).data, r.data)
		if math.Abs(gk.data[i]-want) > 1e-5*scale+1e-6 {
			t.Errorf("∂f/∂k[%d] = %g, reference %g", i, gk.data[i], want)
			break
		}
	}

	// Finite differences of the graph's f itself, on the first and last coordinates of x and k.
	fExec, err := graph.NewExec(backend, objective)
	if err != nil {
		t.Fatal(err)
	}
	defer fExec.Finalize()
	evalF := func(x, k array) float64 {
		out, err := fExec.Call(x.tensor(), k.tensor(), r.tensor())
		if err != nil {
			t.Fatal(err)
		}
		return float64(tensors.MustCopyFlatData[float32](out[0])[0])
	}
	shifted := func(a array, i int, delta float64) array {
		b := array{dims: a.dims, data: append([]float64(nil), a.data...)}
		b.data[i] += delta
		return b
	}
	for _, i := range []int{0, len(x.data) - 1} {
		fd := (evalF(shifted(x, i, 1), k) - evalF(shifted(x, i, -1), k)) / 2
		if math.Abs(fd-gx.data[i]) > 1e-4*max(1, math.Abs(f)) {
			t.Errorf("finite difference on x[%d] = %g, gradient %g", i, fd, gx.data[i])
		}
	}
	for _, i := range []int{0, len(k.data) - 1} {
		fd := (evalF(x, shifted(k, i, 1)) - evalF(x, shifted(k, i, -1))) / 2
		if math.Abs(fd-gk.data[i]) > 1e-4*max(1, math.Abs(f)) {
			t.Errorf("finite difference on k[%d] = %g, gradient %g", i, fd, gk.data[i])
		}
	}
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func maxAbs(a []float64) float64 {
	var m float64
	for _, v := range a {
		m = max(m, math.Abs(v))
	}
	return m
}

// near reports whether a and b agree to relative tolerance tol (absolute near zero).
func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*max(1, math.Abs(a), math.Abs(b))
}

func TestSpaceToDepthRoundTrip(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		x := randomArray(rand.New(rand.NewPCG(1, 2)), 2, 6, 4, 3)
		out, err := graph.CallOnceN(backend, func(x *graph.Node) []*graph.Node {
			s := conv.SpaceToDepth(x, 2)
			return []*graph.Node{s, conv.DepthToSpace(s, 2)}
		}, x.tensor())
		if err != nil {
			t.Fatal(err)
		}
		s := fromTensor(t, out[0])
		if !slices.Equal(s.dims, []int{2, 3, 2, 12}) {
			t.Fatalf("SpaceToDepth shape %v, want [2 3 2 12]", s.dims)
		}
		for b := range 2 {
			for y := range 6 {
				for xx := range 4 {
					for c := range 3 {
						got := s.data[s.index(b, y/2, xx/2, ((y%2)*2+xx%2)*3+c)]
						if want := x.data[x.index(b, y, xx, c)]; got != want {
							t.Fatalf("SpaceToDepth[%d,%d,%d,(%d,%d,%d)] = %g, want x[%d,%d,%d,%d] = %g",
								b, y/2, xx/2, y%2, xx%2, c, got, b, y, xx, c, want)
						}
					}
				}
			}
		}
		if d := maxAbsDiff(t, fromTensor(t, out[1]), x); d != 0 {
			t.Errorf("DepthToSpace(SpaceToDepth(x)) differs from x by %g", d)
		}
	})
}

// layerOutput runs a freshly built layer on x and returns its output and variables.
func layerOutput(t *testing.T, backend compute.Backend, x array, build func(scope *model.Scope, x *graph.Node) *graph.Node) (y, weights array, biases []float64) {
	t.Helper()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(42))
	exec, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return build(scope.In("layer"), x)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	out, err := exec.Call(x.tensor())
	if err != nil {
		t.Fatal(err)
	}
	y = fromTensor(t, out[0])
	for v := range store.IterVariables() {
		switch {
		case strings.HasSuffix(v.Path(), "/weights"):
			weights = fromTensor(t, v.MustValue())
		case strings.HasSuffix(v.Path(), "/biases"):
			for _, b := range tensors.MustCopyFlatData[float32](v.MustValue()) {
				biases = append(biases, float64(b))
			}
		}
	}
	return y, weights, biases
}

func TestLayersMatchReferenceWithBias(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		x := randomArray(rand.New(rand.NewPCG(3, 4)), 2, 8, 6, 3)
		for _, transpose := range []bool{false, true} {
			y, w, b := layerOutput(t, backend, x, func(scope *model.Scope, x *graph.Node) *graph.Node {
				if transpose {
					return conv.Transpose(scope, x, 5).KernelSize(4).Stride(2).Padding(1).Done()
				}
				return conv.New(scope, x, 5).KernelSize(4).Stride(2).Padding(1).Done()
			})
			if len(b) != 5 || !slices.Equal(w.dims, []int{4, 4, 3, 5}) {
				t.Fatalf("transpose=%v: weights %v and %d biases, want [4 4 3 5] and 5", transpose, w.dims, len(b))
			}
			want := refConv2D(x, w, 2, 1)
			if transpose {
				want = refConvTranspose2D(x, w, 2, 1)
			}
			for i := range want.data {
				want.data[i] += b[i%5]
			}
			if d := maxAbsDiff(t, y, want); d > 1e-5 {
				t.Errorf("transpose=%v: max |layer − reference| = %g", transpose, d)
			}
		}
	})
}

func TestInitialisationBounds(t *testing.T) {
	backend := testbackend.Go(t)
	tests := []struct {
		name  string
		in    []int
		build func(scope *model.Scope, x *graph.Node) *graph.Node
		fanIn int
	}{
		{"conv", []int{1, 4, 4, 8}, func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New(s, x, 16).KernelSize(3).Done() }, 8 * 9},
		{"transpose", []int{1, 4, 4, 8}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return conv.Transpose(s, x, 6).KernelSize(4).Stride(2).Padding(1).Done()
		}, 6 * 16},
		{"conv1d", []int{1, 16, 8}, func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New1D(s, x, 32).KernelSize(3).Done() }, 8 * 3},
		{"conv1d groups", []int{1, 16, 8}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return conv.New1D(s, x, 64).KernelSize(5).Groups(4).Done()
		}, 2 * 5},
		{"transpose1d groups", []int{1, 16, 8}, func(s *model.Scope, x *graph.Node) *graph.Node {
			return conv.Transpose1D(s, x, 12).KernelSize(4).Stride(2).Padding(1).Groups(2).Done()
		}, 6 * 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, w, b := layerOutput(t, backend, newArray(tc.in...), tc.build)
			bound := 1 / math.Sqrt(float64(tc.fanIn))
			wMax, bMax := maxAbs(w.data), maxAbs(b)
			// With hundreds of uniform draws the largest is within a few percent of the bound.
			if wMax > bound || wMax < 0.9*bound {
				t.Errorf("max |weight| = %g, want in [0.9, 1]·%g", wMax, bound)
			}
			if bMax > bound || bMax == 0 {
				t.Errorf("max |bias| = %g, want in (0, %g]", bMax, bound)
			}
		})
	}
}

func TestShapes(t *testing.T) {
	backend := testbackend.Go(t)
	tests := []struct {
		name  string
		in    []int
		build func(s *model.Scope, x *graph.Node) *graph.Node
		want  []int
	}{
		{"k3 s1 p1 keeps size", []int{2, 28, 28, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New(s, x, 16).KernelSize(3).Padding(1).Done()
			},
			[]int{2, 28, 28, 16}},
		{"k4 s2 p1 halves", []int{2, 28, 28, 16},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New(s, x, 32).KernelSize(4).Stride(2).Padding(1).Done()
			},
			[]int{2, 14, 14, 32}},
		{"k4 s2 p1 on odd size", []int{1, 7, 7, 4},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New(s, x, 8).KernelSize(4).Stride(2).Padding(1).UseBias(false).Done()
			},
			[]int{1, 3, 3, 8}},
		{"k3 valid", []int{1, 10, 9, 2},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New(s, x, 3).KernelSize(3).Done() },
			[]int{1, 8, 7, 3}},
		{"transpose k4 s2 p1 doubles", []int{2, 7, 7, 32},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.Transpose(s, x, 16).KernelSize(4).Stride(2).Padding(1).Done()
			},
			[]int{2, 14, 14, 16}},
		{"transpose k3 s1 p0 grows by 2", []int{1, 5, 6, 2},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.Transpose(s, x, 3).KernelSize(3).Done() },
			[]int{1, 7, 8, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := model.NewStore()
			g := graph.NewGraph(backend, "shapes")
			x := graph.Parameter(g, "x", shapesF32(tc.in...))
			y := tc.build(store.RootScope(), x)
			if got := y.Shape().Dimensions; fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("output shape %v, want %v", got, tc.want)
			}
		})
	}
	if got := conv.OutputSize(28, 4, 2, 1); got != 14 {
		t.Errorf("OutputSize(28, 4, 2, 1) = %d, want 14", got)
	}
	if got := conv.OutputSize(2, 5, 1, 1); got != 0 {
		t.Errorf("OutputSize(2, 5, 1, 1) = %d, want 0", got)
	}
	if got := conv.TransposeOutputSize(14, 4, 2, 1); got != 28 {
		t.Errorf("TransposeOutputSize(14, 4, 2, 1) = %d, want 28", got)
	}
}

func TestVariables(t *testing.T) {
	backend := testbackend.Go(t)
	store := model.NewStore()
	g := graph.NewGraph(backend, "vars")
	x := graph.Parameter(g, "x", shapesF32(1, 8, 8, 3))
	root := store.RootScope()
	h := conv.New(root.In("enc"), x, 4).KernelSize(4).Stride(2).Padding(1).Done()
	conv.Transpose(root.In("dec"), h, 3).KernelSize(4).Stride(2).Padding(1).UseBias(false).Done()
	got := map[string]string{}
	for v := range store.IterVariables() {
		got[v.Path()] = fmt.Sprint(v.Shape().Dimensions)
	}
	want := map[string]string{
		"/enc/conv/weights":           "[4 4 3 4]",
		"/enc/conv/biases":            "[4]",
		"/dec/conv_transpose/weights": "[4 4 4 3]",
	}
	for path, dims := range want {
		if got[path] != dims {
			t.Errorf("variable %s has dims %q, want %q (all: %v)", path, got[path], dims, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("variables %v, want exactly %v", got, want)
	}
}

func TestPanicsNameTheParameter(t *testing.T) {
	backend := testbackend.Go(t)
	tests := []struct {
		name  string
		in    []int
		build func(s *model.Scope, x *graph.Node) *graph.Node
		want  string
	}{
		{"missing kernel size", []int{1, 4, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New(s, x, 2).Done() }, "KernelSize"},
		{"rank 3 input", []int{4, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New(s, x, 2).KernelSize(3).Done() }, "NHWC"},
		{"kernel larger than input", []int{1, 2, 2, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New(s, x, 2).KernelSize(5).Done() }, "Padding"},
		{"zero stride", []int{1, 4, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New(s, x, 2).KernelSize(3).Stride(0).Done()
			}, "Stride"},
		{"negative padding", []int{1, 4, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.Transpose(s, x, 2).KernelSize(3).Padding(-1).Done()
			}, "Padding"},
		{"space-to-depth of odd size", []int{1, 5, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.SpaceToDepth(x, 2) }, "block"},
		{"1-D: missing kernel size", []int{1, 8, 2},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New1D(s, x, 2).Done() }, "KernelSize"},
		{"1-D: NHWC input", []int{1, 4, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node { return conv.New1D(s, x, 2).KernelSize(3).Done() }, "[batch, time, channels]"},
		{"1-D: dilated kernel longer than input", []int{1, 4, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New1D(s, x, 2).KernelSize(3).Dilation(2).Done()
			}, "Dilation"},
		{"1-D: zero stride", []int{1, 8, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New1D(s, x, 2).KernelSize(3).Stride(0).Done()
			}, "Stride"},
		{"1-D: groups not dividing the channels", []int{1, 8, 3},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New1D(s, x, 4).KernelSize(3).Groups(2).Done()
			}, "Groups"},
		{"1-D: output padding on a convolution", []int{1, 8, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.New1D(s, x, 2).KernelSize(3).OutputPadding(1).Done()
			}, "OutputPadding"},
		{"1-D: output padding not below stride or dilation", []int{1, 8, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.Transpose1D(s, x, 2).KernelSize(4).Stride(2).OutputPadding(2).Done()
			}, "OutputPadding"},
		{"1-D: padding removing the whole output", []int{1, 1, 1},
			func(s *model.Scope, x *graph.Node) *graph.Node {
				return conv.Transpose1D(s, x, 2).KernelSize(2).Padding(1).Done()
			}, "Padding"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := graph.NewGraph(backend, "panics")
			x := graph.Parameter(g, "x", shapesF32(tc.in...))
			var msg string
			func() {
				defer func() {
					if r := recover(); r != nil {
						msg = fmt.Sprint(r)
					}
				}()
				tc.build(model.NewStore().RootScope(), x)
			}()
			if msg == "" {
				t.Fatalf("no panic, want one mentioning %q", tc.want)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q does not mention %q", msg, tc.want)
			}
		})
	}
}

func shapesF32(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
