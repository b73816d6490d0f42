#!/usr/bin/python3
"""PyTorch peer of qzoo's quant package, for the throughput benchmark of go run ./bench quant (bench/quant.go).

It quantizes the same float32 matrix as the Go side (read from a raw little-endian float32 file)
to the same stored form, dequantizes it back, times both, and prints ONE JSON line.

The arithmetic is that of quant/rtn.go, quant/nf4.go, quant/float.go and quant/squeezellm.go,
vectorized over groups [rows, G, g] (SqueezeLLM's k-means over rows: see class SqueezeLLM)
(a row whose width the group size does not divide is padded with zeros to a whole group, and a
group wider than a row takes blocks of the flattened matrix, as quant does; zeros
move neither rtn's range, which contains 0 anyway, nor nf4's absmax):

    rtn (asymmetric):  lo = min(0, min w), hi = max(0, max w), s = fp16(float32((hi−lo)/(2^b−1))),
                       z = clamp(round(−lo/s), 0, 2^b−1), q = clamp(round(w/s)+z, 0, 2^b−1),
                       ŵ = (q−z)·s                    (round: half to even, as torch.round)
    nf4:               c = max|w| per block, q = index of the NF4 level nearest w/c (ties to
                       the lower level: bucketize over the 15 midpoints), ŵ = ℓ_q·c
    nf4 double quant:  μ = float32(mean c), s₂ = float32(max|c−μ|/127) per 256 constants,
                       k = clamp(round((c−μ)/s₂), −127, 127), ĉ = float32(μ + k·s₂); codes use ĉ
    nf (NF-k):         as nf4 with the 2^k levels of --specs and an fp16 absmax c
    float (ExMy):      c = fp16(max|w|), y = w/c·F (F the format's largest value), q = the value
                       of the format nearest y (bucketize over the sorted midpoints of its
                       non-negative levels, ties to the even code, sign bit apart), ŵ = ±ℓ·(c/F)
    squeezellm:        per-row weighted 1-D k-means (Lloyd, two starts), fp16 table, nearest entry

Each operation is called until --min-time has passed and its fastest call is reported. The
timed quantize ends with the stored form qzoo's Quantized holds: codes packed LSB-first
(2 per byte at 4 bits), fp16 scales and uint8 zero points (rtn), fp32 absmax or their int8
codes, scales and mean (nf4). The timed dequantize starts from it and ends with a float32
[rows, cols] tensor.

Two precisions:

    exact  qzoo computes in float64; this mode does too wherever the rounding can differ
           (w/s, w/c, ℓ·c and the per-group constants), so the stored form is byte-identical
           to qzoo's and ŵ bit-identical (SqueezeLLM's up to the order of its k-means sums:
           see class SqueezeLLM). rtn's ŵ = (q−z)·s is exact in float32 (a ≤ 9-bit
           integer times an 11-bit fp16 scale), so both modes compute it in float32.
    fp32   the per-weight work in float32, as one would write it in PyTorch (the per-group
           constants stay as in exact): a code whose w/s or w/c lies within a float32
           rounding of a decision boundary may differ, and nf4's ŵ by an ulp.

With --dump DIR it writes, per spec and precision, the payload of quant's MarshalBinary (the
bytes between its 41-byte header and its checksum) and the dequantized float32 matrix, for
the Go side to compare.

Usage: /usr/bin/python3 bench/peers/torch_quant.py --matrix W.f32 --rows R --cols C \
           --specs '[{"name": "rtn-w4-g64-asym", "method": "rtn", "bits": 4, "group": 64}]' \
           --levels=l0,...,l15 [--threads 2] [--warmup 1] [--min-time 0.5]
Output: {"framework": "pytorch", ..., "results": [{"spec": ..., "precision": ...,
         "quantize_seconds": ..., "dequantize_seconds": ...}, ...]}
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from qzoo_peer import emit, time_calls

NF4_ZERO = 7  # code of the level 0
DOUBLE_QUANT_BLOCK = 256  # absmax constants per second-level block
PRECISIONS = ("exact", "fp32")


def grouped(w, group):
    """w [rows, cols] as [rows, G, g], zero-padded to whole groups; returns it and g. A group wider
    than a row takes blocks of the flattened matrix instead (quant's blockwise rule): [1, G, group]."""
    rows, cols = w.shape
    if group > cols:
        w, rows, cols = w.reshape(1, rows * cols), 1, rows * cols
    g = cols if group == 0 or group > cols else group
    per_row = -(-cols // g)
    if per_row * g != cols:
        w = F.pad(w, (0, per_row * g - cols))
    return w.reshape(rows, per_row, g), g


def ungrouped(x, rows, cols):
    """The inverse of grouped: [rows, G, g] (or [1, G, g] for blocks of the flattened matrix) back
    to [rows, cols], dropping the padding."""
    n = x.shape[0]
    return x.reshape(n, -1)[:, : rows * cols // n].reshape(rows, cols).contiguous()


def pack(codes, bits):
    """Packs uint8 codes (flat) of width bits LSB-first, as quant.Pack."""
    if bits == 8:
        return codes.clone()
    if 8 % bits:  # 8 codes fill bits whole bytes
        n = codes.numel()
        c = F.pad(codes, (0, -n % 8)).view(-1, 8).long()
        v = c[:, 0].clone()
        for j in range(1, 8):
            v |= c[:, j] << (j * bits)
        out = torch.stack([(v >> (8 * i)) & 255 for i in range(bits)], dim=1).to(torch.uint8).view(-1)
        return out[: -(-n * bits // 8)]
    per_byte = 8 // bits
    n = codes.numel()
    if n % per_byte:
        codes = F.pad(codes, (0, per_byte - n % per_byte))
    c = codes.view(-1, per_byte)
    out = c[:, 0].clone()
    for j in range(1, per_byte):
        out |= c[:, j] << (j * bits)
    return out


def unpack(packed, bits, n):
    """The inverse of pack: n uint8 codes."""
    if bits == 8:
        return packed
    mask = (1 << bits) - 1
    if 8 % bits:
        b = F.pad(packed, (0, -packed.numel() % bits)).view(-1, bits).long()
        v = b[:, 0].clone()
        for i in range(1, bits):
            v |= b[:, i] << (8 * i)
        return torch.stack([(v >> (j * bits)) & mask for j in range(8)], dim=1).to(torch.uint8).view(-1)[:n]
    per_byte = 8 // bits
    parts = [(packed >> (j * bits)) & mask for j in range(per_byte)]
    return torch.stack(parts, dim=1).view(-1)[:n]


class RTN:
    """Asymmetric uniform round-to-nearest, quant/rtn.go."""

    def __init__(self, bits, group, exact):
        if 8 % bits:
            raise ValueError(f"rtn: {bits} bits: this peer packs widths that divide 8 only")
        self.bits, self.group, self.exact = bits, group, exact

    def quantize(self, w):
        rows, cols = w.shape
        wg, _ = grouped(w, self.group)
        max_code = (1 << self.bits) - 1
        lo = wg.amin(-1).clamp_(max=0).double()
        hi = wg.amax(-1).clamp_(min=0).double()
        scale16 = ((hi - lo) / max_code).float().half()  # qzoo: fp16(float32(float64 quotient))
        s = scale16.double()
        positive = s > 0
        s_safe = torch.where(positive, s, torch.ones_like(s))  # a zero scale codes all as z = 0
        zero = torch.where(positive, torch.round(-lo / s_safe).clamp_(0, max_code), torch.zeros_like(s))
        x = wg.double() if self.exact else wg.clone()
        dtype = x.dtype
        x.div_(s_safe.to(dtype).unsqueeze(-1)).round_().add_(zero.to(dtype).unsqueeze(-1)).clamp_(0, max_code)
        codes = ungrouped(x.to(torch.uint8), rows, cols).view(-1)
        return {"shape": (rows, cols), "codes": pack(codes, self.bits),
                "scales": scale16, "zeros": zero.to(torch.uint8)}

    def dequantize(self, q):
        rows, cols = q["shape"]
        codes = unpack(q["codes"], self.bits, rows * cols).view(rows, cols)
        cg, _ = grouped(codes, self.group)
        x = cg.float()
        x.sub_(q["zeros"].float().unsqueeze(-1)).mul_(q["scales"].float().unsqueeze(-1))
        return ungrouped(x, rows, cols)

    def payload(self, q):
        return (q["codes"].numpy().tobytes() + q["scales"].numpy().astype("<f2").tobytes()
                + pack(q["zeros"].reshape(-1), self.bits).numpy().tobytes())


class NF4:
    """QLoRA's NormalFloat4 with absmax blocks, optionally double-quantized, quant/nf4.go; with
    fp16, NormalFloat-k (method nf): 2^bits levels and an fp16 absmax per block."""

    def __init__(self, group, double_quant, levels, exact, bits=4, fp16=False):
        self.group, self.double_quant, self.exact = group, double_quant, exact
        self.bits, self.fp16, self.zero = bits, fp16, (1 << (bits - 1)) - 1
        dtype = torch.float64 if exact else torch.float32
        levels = torch.tensor(levels, dtype=torch.float64)
        self.levels = levels.to(dtype)
        self.mids = ((levels[1:] + levels[:-1]) / 2).to(dtype)  # qzoo: float64 midpoints

    def quantize(self, w):
        rows, cols = w.shape
        wg, _ = grouped(w, self.group)
        absmax = wg.abs().amax(-1)  # float32 [rows, G]
        q = {"shape": (rows, cols)}
        if self.fp16:
            q["scales"] = fp16_scales(absmax)
            c = q["scales"].float()
        elif self.double_quant:
            q.update(double_quantize(absmax.reshape(-1)))
            c = block_absmax(q).view_as(absmax)
        else:
            q["absmax"] = absmax
            c = absmax
        positive = c > 0
        c_safe = torch.where(positive, c, torch.ones_like(c))
        x = wg.double() if self.exact else wg.clone()
        x.div_(c_safe.to(x.dtype).unsqueeze(-1))
        codes = torch.bucketize(x, self.mids, out_int32=True).to(torch.uint8)
        if not bool(positive.all()):
            codes.masked_fill_(~positive.unsqueeze(-1), self.zero)
        q["codes"] = pack(ungrouped(codes, rows, cols).view(-1), self.bits)
        return q

    def dequantize(self, q):
        rows, cols = q["shape"]
        codes = unpack(q["codes"], self.bits, rows * cols).view(rows, cols)
        cg, _ = grouped(codes, self.group)
        x = self.levels.index_select(0, cg.reshape(-1).long()).view(cg.shape)  # ℓ_q
        c = q["scales"].to(self.levels.dtype) if self.fp16 else block_absmax(q).view(cg.shape[0], -1).to(self.levels.dtype)
        x.mul_(c.clamp(min=0).unsqueeze(-1))  # a block whose constant is ≤ 0 decodes to zeros
        return ungrouped(x.float(), rows, cols)

    def payload(self, q):
        if self.fp16:
            return q["codes"].numpy().tobytes() + q["scales"].numpy().astype("<f2").tobytes()
        if not self.double_quant:
            return q["codes"].numpy().tobytes() + q["absmax"].numpy().astype("<f4").tobytes()
        return (q["codes"].numpy().tobytes() + np.float32(q["mean"]).astype("<f4").tobytes()
                + q["scale2"].numpy().astype("<f4").tobytes() + q["codes2"].numpy().tobytes())


def fp16_scales(absmax):
    """The fp16 absmax per block of float and nf (float32 [rows, G] to float16), refusing one
    beyond fp16's range as quant does."""
    scales = absmax.half()
    if bool(torch.isinf(scales).any()):
        raise ValueError("a block's absmax is beyond fp16's largest 65504")
    return scales


class Float:
    """A sign/exponent/mantissa float code with an fp16 absmax per block, quant/float.go: the
    block's weights scaled to y = w/c·F (F the format's largest finite value), coded as the
    nearest value of the format (ties to the even code, saturating at ±F, zero as +0), and
    decoded as ±ℓ·(c/F). The grid is newFloatFormat's: E = exponent bits, M the rest after the
    sign, bias 2^(E−1)−1, subnormals at exponent field 0; at 8 bits the top exponent field
    holds infinities and NaN for E ≥ 5 (IEEE-like) and only the all-ones magnitude is NaN for
    E ≤ 4 (OCP's FN formats)."""

    def __init__(self, bits, exponent, group, exact):
        if bits > 8:
            raise ValueError(f"float: {bits} bits: this peer implements widths up to 8")
        mantissa, bias = bits - 1 - exponent, (1 << (exponent - 1)) - 1
        fields = (1 << exponent) - (1 if bits == 8 and exponent >= 5 else 0)
        levels = [math.ldexp(m, 1 - bias - mantissa) if e == 0 else math.ldexp(1 + m / (1 << mantissa), e - bias)
                  for e in range(fields) for m in range(1 << mantissa)]
        if bits == 8 and exponent <= 4:
            levels = levels[:-1]
        self.bits, self.group, self.exact = bits, group, exact
        self.dtype = torch.float64 if exact else torch.float32
        lv = torch.tensor(levels, dtype=torch.float64)
        mids = (lv[1:] + lv[:-1]) / 2  # qzoo: float64 midpoints
        self.levels = lv.to(self.dtype)
        self.mids = mids.to(self.dtype)
        self.mids_inf = torch.cat([mids, torch.tensor([math.inf], dtype=torch.float64)]).to(self.dtype)
        self.top = levels[-1]

    def quantize(self, w):
        rows, cols = w.shape
        wg, _ = grouped(w, self.group)
        scales = fp16_scales(wg.abs().amax(-1))
        c = scales.to(self.dtype)
        positive = c > 0
        c_safe = torch.where(positive, c, torch.ones_like(c))
        y = wg.to(self.dtype) if self.exact else wg.clone()
        y.div_(c_safe.unsqueeze(-1)).mul_(self.top)  # qzoo: w/c·F
        a = y.abs()
        k = torch.bucketize(a, self.mids)  # the midpoints below a: the nearest level, ties low
        k += (a == self.mids_inf[k]) & (k % 2 == 1)  # a tie goes to the even code
        code = k | (((y < 0) & (k > 0)).long() << (self.bits - 1))
        codes = code.to(torch.uint8)
        if not bool(positive.all()):
            codes.masked_fill_(~positive.unsqueeze(-1), 0)
        return {"shape": (rows, cols), "codes": pack(ungrouped(codes, rows, cols).view(-1), self.bits), "scales": scales}

    def dequantize(self, q):
        rows, cols = q["shape"]
        codes = unpack(q["codes"], self.bits, rows * cols).view(rows, cols)
        cg, _ = grouped(codes, self.group)
        sign = 1 << (self.bits - 1)
        k = cg.long()
        x = self.levels.index_select(0, (k & (sign - 1)).reshape(-1)).view(cg.shape)
        x.mul_((q["scales"].to(self.dtype) / self.top).unsqueeze(-1))  # qzoo: ℓ·(c/F)
        x = torch.where(k >= sign, -x, x)
        return ungrouped(x.float(), rows, cols)

    def payload(self, q):
        return q["codes"].numpy().tobytes() + q["scales"].numpy().astype("<f2").tobytes()


KMEANS_MAX_ITER = 100  # quant/squeezellm.go's Lloyd limits
KMEANS_TOLERANCE = 1e-7  # of the row's range


class SqueezeLLM:
    """SqueezeLLM's per-row lookup tables, quant/squeezellm.go, without Fisher weights (all 1, as
    the bench quantizes) and without outliers: weighted 1-D k-means of every row, batched over
    rows. Lloyd's algorithm from two starts (the weighted quantiles (j+½)/K of the sorted row and
    the uniform grid over its range), each at most 100 steps; a row stops once no centroid moved
    by more than 1e-7 of its range and none was empty, an empty centroid moving onto the weight
    of largest weighted error (a Python loop over the rare rows that have one); the start of
    lower Σ w·(x − c)² wins. A row with at most K distinct values stores them. The table is
    rounded to fp16 and sorted, and every weight coded as its nearest entry (ties low).

    The rows being sorted, a cluster is a run of its row: a searchsorted of the centroids'
    midpoints in the row finds the runs (the 1-D form of the [rows, n, K] distance argmin,
    without its K-fold work), and a run's weighted sums are differences of the row's prefix
    sums, so a Lloyd step costs O(K log n) per row, not O(n). A difference of prefix sums rounds
    otherwise than qzoo's sequential sum over the run, so a centroid can differ by an ulp,
    which can move a tie-near code or an fp16 entry: the bench reports the agreement rather
    than a byte-identical form. At most rows rows of the matrix are quantized (the first
    ones), as the Go side."""

    def __init__(self, bits, rows, exact):
        if 8 % bits:
            raise ValueError(f"squeezellm: {bits} bits: this peer packs widths that divide 8 only")
        self.bits, self.rows, self.exact = bits, rows, exact
        self.dtype = torch.float64 if exact else torch.float32

    def quantize(self, w):
        w = w[: self.rows] if self.rows else w
        rows, cols = w.shape
        K = 1 << self.bits
        x = w.to(self.dtype)
        vals = torch.sort(x, dim=1).values
        weights = torch.ones_like(vals)
        total = weights.sum(1, keepdim=True)
        # Start 1: the weighted quantiles, the first sorted value whose cumulative weight reaches (j+½)/K·total.
        zero = torch.zeros(rows, 1, dtype=self.dtype)
        cum_w = torch.cat([zero, weights.cumsum(1)], 1)
        cum_wv = torch.cat([zero, (weights * vals).cumsum(1)], 1)
        j = torch.arange(K, dtype=self.dtype)
        at = torch.searchsorted(cum_w[:, 1:].contiguous(), ((j + 0.5) / K) * total).clamp_(max=cols - 1)
        quantiles = vals.gather(1, at)
        lo, hi = vals[:, :1], vals[:, -1:]
        grid = lo + (hi - lo) * j / (K - 1)  # Start 2: the uniform grid
        tolerance = (KMEANS_TOLERANCE * (hi - lo)).squeeze(1)
        quantiles, quantile_error = lloyd(vals, weights, cum_w, cum_wv, quantiles, tolerance)
        grid, grid_error = lloyd(vals, weights, cum_w, cum_wv, grid, tolerance)
        centroids = torch.where((grid_error < quantile_error).unsqueeze(1), grid, quantiles)
        distinct = 1 + (vals[:, 1:] != vals[:, :-1]).sum(1)
        for r in (distinct <= K).nonzero().flatten().tolist():  # few distinct values: store them exactly
            u = torch.unique(vals[r])
            centroids[r] = torch.cat([u, u[-1:].expand(K - len(u))])
        lut = centroids.float().half()
        if bool(torch.isinf(lut).any()):
            raise ValueError("squeezellm: a centroid is beyond fp16's largest 65504")
        table = lut.float().sort(1).values
        lut = table.half()
        mids = (table[:, 1:].to(self.dtype) + table[:, :-1].to(self.dtype)) / 2
        codes = torch.searchsorted(mids, x.contiguous()).to(torch.uint8)
        return {"shape": (rows, cols), "codes": pack(codes.view(-1), self.bits), "lut": lut}

    def dequantize(self, q):
        rows, cols = q["shape"]
        codes = unpack(q["codes"], self.bits, rows * cols).view(rows, cols).long()
        return q["lut"].float().gather(1, codes)

    def payload(self, q):
        return q["codes"].numpy().tobytes() + q["lut"].numpy().astype("<f2").tobytes()


def lloyd(vals, weights, cum_w, cum_wv, centroids, tolerance):
    """Lloyd's algorithm on every row of the sorted vals [rows, n] from ascending centroids
    [rows, K], as quant's lloyd: returns the final centroids and Σ w·(x − nearest)² per row.
    cum_w and cum_wv [rows, n+1] are the prefix sums of the weights and of weight·value (from
    0): a cluster is a run of the sorted row, found by searchsorted of the centroids'
    midpoints, and its sums are differences of the prefix sums, O(K log n) per row and step."""
    rows, K = centroids.shape
    n = vals.shape[1]
    c = centroids.clone()
    active = torch.ones(rows, dtype=torch.bool)
    first, last = torch.zeros(rows, 1, dtype=torch.long), torch.full((rows, 1), n, dtype=torch.long)
    for _ in range(KMEANS_MAX_ITER):
        mids = midpoints(c)
        bounds = torch.cat([first, torch.searchsorted(vals, mids, right=True), last], 1)  # run c: [bounds[c], bounds[c+1])
        w, wv = cum_w.gather(1, bounds), cum_wv.gather(1, bounds)
        sum_w, sum_wv = w[:, 1:] - w[:, :-1], wv[:, 1:] - wv[:, :-1]
        empty = sum_w == 0
        nxt = torch.where(empty, c, sum_wv / torch.where(empty, torch.ones_like(sum_w), sum_w))
        moved = (nxt - c).abs().amax(1)
        relocated = torch.zeros(rows, dtype=torch.bool)
        for i in (active & empty.any(1)).nonzero().flatten().tolist():
            assign = torch.searchsorted(mids[i], vals[i])
            relocated[i] = relocate_empty(vals[i], weights[i], assign, nxt[i], empty[i].nonzero().flatten().tolist())
            if relocated[i]:
                nxt[i] = nxt[i].sort().values
        c = torch.where(active.unsqueeze(1), nxt, c)
        active &= relocated | (moved > tolerance)
        if not bool(active.any()):
            break
    assign = torch.searchsorted(midpoints(c), vals)
    d = vals - c.gather(1, assign)
    return c, (weights * d * d).sum(1)


def midpoints(c):
    """The midpoints of ascending centroids [rows, K], as a running maximum (quant's runs): a
    value goes to the first centroid whose midpoint with the next is not below it."""
    return torch.cummax((c[:, 1:] + c[:, :-1]) / 2, dim=1).values.contiguous()


def relocate_empty(v, w, assign, c, empty):
    """quant's relocateEmpty on one row: each empty centroid (in order) moves onto the value of
    largest weighted squared error (the first such), whose equal values then attract nothing."""
    errs = w * (v - c[assign]) ** 2
    moved = False
    for k in empty:
        worst = int(torch.argmax(errs))
        if not errs[worst] > 0:
            break
        c[k] = v[worst]
        errs[v == v[worst]] = 0
        moved = True
    return moved


def double_quantize(c):
    """Codes the fp32 absmax constants c (flat) to int8 around their mean, as doubleQuantize."""
    mean = float(np.float32(c.double().mean().item()))  # qzoo: float32(float64 sum / n)
    d = c.double() - mean
    n = d.numel()
    blocks = -(-n // DOUBLE_QUANT_BLOCK)
    dg = F.pad(d, (0, blocks * DOUBLE_QUANT_BLOCK - n)).view(blocks, DOUBLE_QUANT_BLOCK)
    scale2 = (dg.abs().amax(-1) / 127).float()
    s = scale2.double()
    s_safe = torch.where(s > 0, s, torch.ones_like(s))
    k = (dg / s_safe.unsqueeze(-1)).round_().clamp_(-127, 127)
    k.masked_fill_((s == 0).unsqueeze(-1), 0)
    return {"mean": mean, "scale2": scale2, "codes2": k.view(-1)[:n].to(torch.int8)}


def block_absmax(q):
    """The stored constant of every block (flat, float32): absmax, or μ + k·s₂."""
    if "absmax" in q:
        return q["absmax"].reshape(-1)
    n = q["codes2"].numel()
    s = q["scale2"].double().repeat_interleave(DOUBLE_QUANT_BLOCK)[:n]
    return (q["mean"] + q["codes2"].double() * s).float()


def make_quantizer(spec, levels, precision):
    exact = precision == "exact"
    if spec["method"] == "float":
        return Float(spec["bits"], spec["exponent"], spec["group"], exact)
    if spec["method"] == "nf":
        return NF4(spec["group"], False, spec["levels"], exact, bits=spec["bits"], fp16=True)
    if spec["method"] == "squeezellm":
        return SqueezeLLM(spec["bits"], spec.get("rows", 0), exact)
    if spec["method"] == "rtn":
        if spec.get("symmetric") or spec.get("hadamard") or spec.get("outlier_fraction"):
            raise ValueError(f"{spec['name']}: this peer implements asymmetric rtn without options only")
        return RTN(spec["bits"], spec["group"], exact)
    if spec["method"] == "nf4":
        if spec.get("hadamard") or spec.get("outlier_fraction"):
            raise ValueError(f"{spec['name']}: this peer implements nf4 without options only")
        return NF4(spec["group"] or 64, bool(spec.get("double_quant")), levels, exact)
    raise ValueError(f"{spec['name']}: method {spec['method']!r} has no peer (rtn, nf4, nf, float and squeezellm have)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--matrix", required=True, help="raw little-endian float32 file, rows×cols row-major")
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--cols", type=int, required=True)
    ap.add_argument("--specs", required=True,
                    help='JSON list of {"name", "method": "rtn"|"nf4"|"nf"|"float"|"squeezellm", "bits", "group", "double_quant", "exponent", "levels", "rows"}')
    ap.add_argument("--levels", required=True, help="the 16 NF4 levels, comma-separated (quant.NF4Levels)")
    ap.add_argument("--precisions", default="exact,fp32", help="comma-separated: exact, fp32")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the Go side's)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed quantize+dequantize calls per spec first")
    ap.add_argument("--min-time", type=float, default=0.5,
                    help="repeat each timed operation until this many seconds have passed; the fastest call counts")
    ap.add_argument("--dump", default="", help="write payloads and dequantized matrices here")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.warmup < 0 or args.rows < 1 or args.cols < 1:
        ap.error("--threads, --rows and --cols must be ≥ 1 and --warmup ≥ 0")
    precisions = args.precisions.split(",")
    if any(p not in PRECISIONS for p in precisions):
        ap.error(f"--precisions {args.precisions}: valid ones are {', '.join(PRECISIONS)}")
    levels = [float(v) for v in args.levels.split(",")]
    if len(levels) != 16:
        ap.error(f"--levels has {len(levels)} values, want 16")

    torch.set_num_threads(args.threads)
    w = torch.from_numpy(np.fromfile(args.matrix, dtype="<f4").astype(np.float32, copy=False))
    if w.numel() != args.rows * args.cols:
        ap.error(f"{args.matrix} holds {w.numel()} float32, want {args.rows}×{args.cols}")
    w = w.view(args.rows, args.cols)

    results = []
    for spec in json.loads(args.specs):
        for precision in precisions:
            quantizer = make_quantizer(spec, levels, precision)
            for _ in range(args.warmup):
                quantizer.dequantize(quantizer.quantize(w))
            q_seconds, q_faults, q_calls, q = time_calls(lambda: quantizer.quantize(w), args.min_time)
            d_seconds, d_faults, d_calls, wq = time_calls(lambda: quantizer.dequantize(q), args.min_time)
            row = {"spec": spec["name"], "precision": precision,
                   "quantize_seconds": q_seconds, "quantize_calls": q_calls, "quantize_faults": q_faults,
                   "dequantize_seconds": d_seconds, "dequantize_calls": d_calls, "dequantize_faults": d_faults}
            if args.dump:
                base = os.path.join(args.dump, f"{spec['name']}.{precision}")
                with open(base + ".payload", "wb") as f:
                    f.write(quantizer.payload(q))
                wq.numpy().astype("<f4").tofile(base + ".dequantized")
                row["dump"] = base
            results.append(row)

    emit({
        "rows": args.rows,
        "cols": args.cols,
        "warmup": args.warmup,
        "min_time_seconds": args.min_time,
        "results": results,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
