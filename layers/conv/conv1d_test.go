package conv_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/qzoo/qzoo/internal/testbackend"
	"github.com/qzoo/qzoo/layers/conv"
)

// refConv1D is PyTorch's conv1d definition written as plain loops: y[b,t,o] = Σ_{i,c}
// x[b, s·t + d·i − p, g·Cin/G + c]·k[i, c, o] with g = o's group, out-of-range x being zero.
func refConv1D(x, k array, o conv.Options1D) array {
	batch, l := x.dims[0], x.dims[1]
	kk, groupIn, cout := k.dims[0], k.dims[1], k.dims[2]
	s, d, p, groups := max(o.Stride, 1), max(o.Dilation, 1), o.Padding, max(o.Groups, 1)
	lo := (l+2*p-d*(kk-1)-1)/s + 1
	y := newArray(batch, lo, cout)
	for b := range batch {
		for t := range lo {
			for oc := range cout {
				g := oc / (cout / groups)
				var sum float64
				for i := range kk {
					it := s*t + d*i - p
					if it < 0 || it >= l {
						continue
					}
					for c := range groupIn {
						sum += x.data[x.index(b, it, g*groupIn+c)] * k.data[k.index(i, c, oc)]
					}
				}
				y.data[y.index(b, t, oc)] = sum
			}
		}
	}
	return y
}

// refConvTranspose1D is PyTorch's conv_transpose1d definition written as plain loops, in its scatter
// form: x[b,t,c] adds x·k[i,c,o] to y[b, s·t − p + d·i, g·Cout/G + o] (g = c's group) when inside.
func refConvTranspose1D(x, k array, o conv.Options1D) array {
	batch, l, cin := x.dims[0], x.dims[1], x.dims[2]
	kk, groupOut := k.dims[0], k.dims[2]
	s, d, p, groups := max(o.Stride, 1), max(o.Dilation, 1), o.Padding, max(o.Groups, 1)
	lo := (l-1)*s - 2*p + d*(kk-1) + o.OutputPadding + 1
	y := newArray(batch, lo, groupOut*groups)
	for b := range batch {
		for t := range l {
			for c := range cin {
				g := c / (cin / groups)
				v := x.data[x.index(b, t, c)]
				for i := range kk {
					ot := s*t - p + d*i
					if ot < 0 || ot >= lo {
						continue
					}
					for oc := range groupOut {
						y.data[y.index(b, ot, g*groupOut+oc)] += v * k.data[k.index(i, c, oc)]
					}
				}
			}
		}
	}
	return y
}

// conv1DCase is one configuration of a 1-D convolution kind, with a small input.
type conv1DCase struct {
	transpose           bool
	kernel              int
	o                   conv.Options1D
	batch, l, cin, cout int
}

func (c conv1DCase) String() string {
	kind := "conv1d"
	if c.transpose {
		kind = "transpose1d"
	}
	return fmt.Sprintf("%s_k%d_s%d_p%d_d%d_g%d_op%d_L%d", kind, c.kernel, c.o.Stride, c.o.Padding, c.o.Dilation,
		c.o.Groups, c.o.OutputPadding, c.l)
}

func (c conv1DCase) apply(x, k *graph.Node) *graph.Node {
	if c.transpose {
		return conv.ConvTranspose1D(x, k, c.o)
	}
	return conv.Conv1D(x, k, c.o)
}

func (c conv1DCase) ref(x, k array) array {
	if c.transpose {
		return refConvTranspose1D(x, k, c.o)
	}
	return refConv1D(x, k, c.o)
}

func (c conv1DCase) data(seed uint64) (x, k array) {
	rng := rand.New(rand.NewPCG(seed, 7))
	groups := max(c.o.Groups, 1)
	kDims := []int{c.kernel, c.cin / groups, c.cout}
	if c.transpose {
		kDims = []int{c.kernel, c.cin, c.cout / groups}
	}
	return randomArray(rng, c.batch, c.l, c.cin), randomArray(rng, kDims...)
}

// The kinds a speech codec uses (SEANet/EnCodec: k7 p3, dilated k3 residual units, k=2s strided
// down- and up-sampling, depthwise), then odd sizes: inputs the taps read past (extended) or short of
// (cut), strides that do not divide the dilation, groups, output padding below the stride and below
// the dilation.
var conv1DCases = []conv1DCase{
	{kernel: 7, o: conv.Options1D{Padding: 3}, batch: 2, l: 9, cin: 3, cout: 4},
	{kernel: 3, o: conv.Options1D{Padding: 3, Dilation: 3}, batch: 2, l: 10, cin: 3, cout: 3},
	{kernel: 8, o: conv.Options1D{Stride: 4, Padding: 2}, batch: 2, l: 16, cin: 2, cout: 4},
	{transpose: true, kernel: 8, o: conv.Options1D{Stride: 4, Padding: 2}, batch: 2, l: 4, cin: 4, cout: 2},
	{kernel: 5, o: conv.Options1D{Stride: 2, Padding: 2, Groups: 3}, batch: 1, l: 9, cin: 3, cout: 3},
	{kernel: 1, batch: 2, l: 5, cin: 3, cout: 2},
	{kernel: 4, o: conv.Options1D{Stride: 3, Padding: 1}, batch: 1, l: 8, cin: 2, cout: 3},
	{kernel: 2, o: conv.Options1D{Stride: 3}, batch: 1, l: 10, cin: 2, cout: 3},
	{kernel: 5, o: conv.Options1D{Stride: 3, Padding: 2, Dilation: 2}, batch: 1, l: 13, cin: 2, cout: 3},
	{kernel: 3, o: conv.Options1D{Stride: 2, Dilation: 2, Groups: 2}, batch: 1, l: 11, cin: 4, cout: 6},
	{transpose: true, kernel: 3, o: conv.Options1D{Padding: 1}, batch: 1, l: 6, cin: 2, cout: 3},
	{transpose: true, kernel: 5, o: conv.Options1D{Stride: 3, Padding: 1, OutputPadding: 2}, batch: 1, l: 4, cin: 2, cout: 3},
	{transpose: true, kernel: 3, o: conv.Options1D{Stride: 2, Padding: 1, Dilation: 2, OutputPadding: 1}, batch: 1, l: 5, cin: 2, cout: 3},
	{transpose: true, kernel: 3, o: conv.Options1D{Dilation: 3, OutputPadding: 2}, batch: 1, l: 4, cin: 2, cout: 2},
	{transpose: true, kernel: 4, o: conv.Options1D{Stride: 2, Padding: 1, Groups: 2}, batch: 2, l: 5, cin: 4, cout: 6},
	{transpose: true, kernel: 2, o: conv.Options1D{Stride: 3, Padding: 2}, batch: 1, l: 4, cin: 2, cout: 3},
}

// TestOutputSizes checks the documented formulas against the reference loops' output lengths and
// PyTorch's own numbers for common layers.
func TestOutputSizes(t *testing.T) {
	tests := []struct {
		name      string
		got, want int
	}{
		{"conv k7 p3 keeps", conv.Conv1DOutputSize(24000, 7, conv.Options1D{Padding: 3}), 24000},
		{"conv k3 d9 p9 keeps", conv.Conv1DOutputSize(100, 3, conv.Options1D{Dilation: 9, Padding: 9}), 100},
		{"conv k8 s4 p2 divides by 4", conv.Conv1DOutputSize(320, 8, conv.Options1D{Stride: 4, Padding: 2}), 80},
		{"conv k5 s3 d2", conv.Conv1DOutputSize(13, 5, conv.Options1D{Stride: 3, Dilation: 2, Padding: 2}), 3},
		{"conv kernel longer than input", conv.Conv1DOutputSize(4, 3, conv.Options1D{Dilation: 3}), 0},
		{"transpose k8 s4 p2 multiplies by 4", conv.ConvTranspose1DOutputSize(80, 8, conv.Options1D{Stride: 4, Padding: 2}), 320},
		{"transpose k3 s2 p1 op1 doubles", conv.ConvTranspose1DOutputSize(5, 3, conv.Options1D{Stride: 2, Padding: 1, OutputPadding: 1}), 10},
		{"transpose k3 d2", conv.ConvTranspose1DOutputSize(5, 3, conv.Options1D{Dilation: 2}), 9},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	for _, c := range conv1DCases {
		x, k := c.data(1)
		want := c.ref(x, k).dims[1]
		got := conv.Conv1DOutputSize(c.l, c.kernel, c.o)
		if c.transpose {
			got = conv.ConvTranspose1DOutputSize(c.l, c.kernel, c.o)
		}
		if got != want {
			t.Errorf("%s: output size %d, reference loops %d", c, got, want)
		}
	}
}

func TestLayers1DMatchReferenceWithBias(t *testing.T) {
	testbackend.ForEach(t, func(t *testing.T, backend compute.Backend) {
		x := randomArray(rand.New(rand.NewPCG(5, 6)), 2, 9, 4)
		o := conv.Options1D{Stride: 2, Padding: 1, Dilation: 2, Groups: 2, OutputPadding: 1}
		for _, transpose := range []bool{false, true} {
			y, w, b := layerOutput(t, backend, x, func(scope *model.Scope, x *graph.Node) *graph.Node {
				if transpose {
					return conv.Transpose1D(scope, x, 6).KernelSize(3).Stride(2).Padding(1).Dilation(2).Groups(2).OutputPadding(1).Done()
				}
				return conv.New1D(scope, x, 6).KernelSize(3).Stride(2).Padding(1).Dilation(2).Groups(2).Done()
			})
			wantW := []int{3, 2, 6}
			if transpose {
				wantW = []int{3, 4, 3}
			}
			if len(b) != 6 || !slices.Equal(w.dims, wantW) {
				t.Fatalf("transpose=%v: weights %v and %d biases, want %v and 6", transpose, w.dims, len(b), wantW)
			}
			var want array
			if transpose {
				want = refConvTranspose1D(x, w, o)
			} else {
				convOptions := o
				convOptions.OutputPadding = 0
				want = refConv1D(x, w, convOptions)
			}
			for i := range want.data {
				want.data[i] += b[i%6]
			}
			if d := maxAbsDiff(t, y, want); d > 1e-5 {
				t.Errorf("transpose=%v: max |layer − reference| = %g", transpose, d)
			}
		}
	})
}

func TestShapesAndVariables1D(t *testing.T) {
	backend := testbackend.Go(t)
	store := model.NewStore()
	g := graph.NewGraph(backend, "shapes1d")
	x := graph.Parameter(g, "x", shapesF32(2, 320, 1))
	root := store.RootScope()
	h := conv.New1D(root.In("in"), x, 8).KernelSize(7).Padding(3).Done()
	res := conv.New1D(root.In("res"), h, 8).KernelSize(3).Dilation(3).Padding(3).Groups(8).UseBias(false).Done()
	down := conv.New1D(root.In("down"), res, 16).KernelSize(8).Stride(4).Padding(2).Done()
	up := conv.Transpose1D(root.In("up"), down, 8).KernelSize(8).Stride(4).Padding(2).Done()
	odd := conv.Transpose1D(root.In("odd"), down, 4).KernelSize(3).Stride(2).Padding(1).OutputPadding(1).Done()
	for _, c := range []struct {
		name string
		node *graph.Node
		want []int
	}{
		{"k7 p3 keeps length", h, []int{2, 320, 8}},
		{"depthwise dilated keeps length", res, []int{2, 320, 8}},
		{"k8 s4 p2 divides by 4", down, []int{2, 80, 16}},
		{"transpose k8 s4 p2 multiplies by 4", up, []int{2, 320, 8}},
		{"transpose k3 s2 p1 op1 doubles", odd, []int{2, 160, 4}},
	} {
		if got := c.node.Shape().Dimensions; !slices.Equal(got, c.want) {
			t.Errorf("%s: shape %v, want %v", c.name, got, c.want)
		}
	}
	got := map[string]string{}
	for v := range store.IterVariables() {
		got[v.Path()] = fmt.Sprint(v.Shape().Dimensions)
	}
	want := map[string]string{
		"/in/conv1d/weights":            "[7 1 8]",
		"/in/conv1d/biases":             "[8]",
		"/res/conv1d/weights":           "[3 1 8]",
		"/down/conv1d/weights":          "[8 8 16]",
		"/down/conv1d/biases":           "[16]",
		"/up/conv_transpose1d/weights":  "[8 16 8]",
		"/up/conv_transpose1d/biases":   "[8]",
		"/odd/conv_transpose1d/weights": "[3 16 4]",
		"/odd/conv_transpose1d/biases":  "[4]",
	}
	for path, dims := range want {
		if got[path] != dims {
			t.Errorf("variable %s has dims %q, want %q", path, got[path], dims)
		}
	}
	if len(got) != len(want) {
		t.Errorf("variables %v, want exactly %v", got, want)
	}
}
