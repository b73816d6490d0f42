// Package conv implements 1-D and 2-D convolutions and transposed convolutions on channels-last
// tensors ([B, L, C] and NHWC) with exactly PyTorch's Conv1d / ConvTranspose1d / Conv2d /
// ConvTranspose2d semantics, built only from ops whose gradients are right on every GoMLX backend
// (the pure-Go one and ONNX Runtime included): zero padding, contiguous slices, concatenation,
// reshape, transpose and matrix products.
//
// Why not graph.Convolve: in GoMLX v0.28 its input gradient is wrong for even kernel sizes (Euler's
// identity below fails), and the ONNX backend cannot differentiate strided convolutions or strided
// slices. Here no op is strided.
//
// # Convolution
//
// For x of shape [B, H, W, Cin] and weights w of shape [k, k, Cin, Cout] (PyTorch's Conv2d weight
// [Cout, Cin, k, k] permuted by (2, 3, 1, 0)), stride s and zero padding p,
//
//	y[b, Y, X, o] = bias[o] + Σ_{i,j<k} Σ_c xp[b, s·Y+i, s·X+j, c] · w[i, j, c, o],
//	xp = x padded with p zeros on each side,  Ho = ⌊(H + 2p − k)/s⌋ + 1  (same for W).
//
// Stride 1 is computed as im2col: the k² shifted slices xp[:, i:i+Ho, j:j+Wo, :] are concatenated along
// channels (order i, j, c, matching w's row-major layout) and multiplied by w reshaped to [k²·Cin, Cout].
// Where that moves more data than the alternative (as a rule, Cout < Cin), the products come first and
// are shifted instead: P = x·w with w as [Cin, (i, j, o)], zero-padded as x would be, and
// y[b, Y, X, o] = Σ_{i,j} P[b, Y+i, X+j, (i, j, o)], with its gradients written out (autodiff of the
// shifts would pad each one to P's size): for x the transposed convolution, the im2col of the output
// gradient times the flipped w, and for w the product of xᵀ with the same windows. Both ways compute
// the same sums, in another order.
//
// Stride s > 1 is turned into a stride-1 convolution by space-to-depth. Writing i = s·a + r with
// 0 ≤ r < s, xp[s·Y + s·a + r] = S[Y + a, (r, ·)] where S = SpaceToDepth(xp, s), so
//
//	y = Conv_stride1( S, w' ),  w'[a, b, (r, q, c), o] = w[s·a + r, s·b + q, c, o],
//
// a ⌈k/s⌉×⌈k/s⌉ kernel on s²·Cin channels (rows of w beyond k are zeros). Before space-to-depth, xp
// is cut (or zero-extended) to s·(Ho + ⌈k/s⌉ − 1) rows and columns, exactly the extent that the
// strided convolution reads, rounded to the block size. The weights are stored in the [k, k, Cin, Cout]
// layout and rearranged in the graph (a pad, reshape and transpose), so fan-in, initialisation and the
// weights themselves are those of PyTorch's layer; Conv2d(k=4, s=2, p=1) becomes "pad 1,
// space-to-depth(2), 2×2 valid convolution on 4·Cin channels".
//
// # Transposed convolution
//
// For weights w of shape [k, k, Cin, Cout] (PyTorch's ConvTranspose2d weight [Cin, Cout, k, k]
// permuted by (2, 3, 0, 1)),
//
//	y[b, Y, X, o] = bias[o] + Σ_{y,x,c,i,j : Y = s·y − p + i, X = s·x − p + j} x[b, y, x, c] · w[i, j, c, o],
//	Ho = (H − 1)·s − 2p + k.
//
// Without cropping (p = 0) the output U has, at row Y = s·Z + ρ (0 ≤ ρ < s), the taps i = s·m + ρ
// reading x[Z − m], m < K = ⌈k/s⌉. With x zero-padded by K − 1 on each side and a = K − 1 − m this is a
// stride-1 K×K convolution producing s²·Cout channels,
//
//	V[Z, (ρ, σ, o)] = Σ_{a,b,c} xpad[Z + a, ·, c] · w[s·(K−1−a) + ρ, s·(K−1−b) + σ, c, o],
//
// followed by U = DepthToSpace(V, s) and the crop y = U[p : p+Ho, p : p+Wo]. ConvTranspose2d(k=4, s=2,
// p=1) is thus "pad 1, 2×2 convolution to 4·Cout channels, depth-to-space(2), crop 1 on each side".
//
// # 1-D convolution
//
// For x [B, L, Cin], kernel w [k, Cin/G, Cout] (PyTorch's Conv1d weight [Cout, Cin/G, k] permuted by
// (2, 1, 0)), stride s, padding p, dilation d and G groups,
//
//	y[b, t, o] = bias[o] + Σ_{i<k} Σ_{c<Cin/G} xp[b, s·t + d·i, g·Cin/G + c] · w[i, c, o],  g = ⌊o·G/Cout⌋,
//	L_out = ⌊(L + 2p − d·(k − 1) − 1)/s⌋ + 1.
//
// Writing d·i = s·a_i + r_i (0 ≤ r_i < s) and cutting xp into blocks of s positions, B[τ, r] =
// xp[s·τ + r], tap i reads B[t + a_i, r_i] for t < L_out: a contiguous slice of the blocks. xp is cut
// (or zero-extended) to s·(L_out + ⌊d(k−1)/s⌋) positions, exactly the blocks the taps read; the k
// slices are concatenated along channels (order i, c) and multiplied by w reshaped to [k·Cin, Cout]
// (with groups, one matrix product per group, batched). Unlike the 2-D case no kernel entry is zero.
//
// # Transposed 1-D convolution
//
// For kernel w [k, Cin, Cout/G] (PyTorch's ConvTranspose1d weight [Cin, Cout/G, k] permuted by (2, 0, 1)),
//
//	y[b, Y, o] = bias[o] + Σ_{t,i,c : Y = s·t − p + d·i} x[b, t, c] · w[i, c, o − g·Cout/G],  c in o's group g,
//	L_out = (L − 1)·s − 2p + d·(k − 1) + output_padding + 1.
//
// With w_d the kernel dilated by d (d − 1 zeros between taps, d(k−1)+1 positions) and A = ⌊d(k−1)/s⌋,
// the uncropped output U at Y = s·Z + ρ (0 ≤ ρ < s) is Σ_{a≤A} x[Z − a]·w_d[s·a + ρ]: with x
// zero-padded by A at each end this is a stride-1 convolution with A + 1 taps producing s·Cout
// channels, V[Z, (ρ, o)], followed by depth-to-space (U[s·Z + ρ] = V[Z, ρ]), zero extension for
// output_padding past the last tap, and the crop y = U[p : p + L_out]. ConvTranspose1d(k=2s,
// stride s, padding p) is thus "pad 1, 2-tap convolution to s·Cout channels, interleave, crop p".
//
// # Initialisation
//
// Weights and biases are drawn from U(−1/√fan_in, 1/√fan_in), PyTorch's default (kaiming_uniform_ with
// a = √5 for the weights, the same bound for the biases). Like PyTorch, fan_in is Cin·k² for Conv2d,
// Cout·k² for ConvTranspose2d, (Cin/G)·k for Conv1d and (Cout/G)·k for ConvTranspose1d (PyTorch takes
// it from the weight's second axis).
//
// # Checking gradients
//
// For the bilinear f(x, w) = Σ conv(x, w)·r, Euler's theorem on homogeneous functions gives
// ⟨∂f/∂x, x⟩ = f and ⟨∂f/∂w, w⟩ = f; the tests check that, plus every input and weight gradient
// coordinate against a plain-Go reference, on every backend of framework.AvailableBackends.
package conv
