#!/usr/bin/python3
"""PyTorch peer of qzoo's models/vaeformer, for the speed benchmark of go run ./bench vaeformer
(bench/vaeformer.go).

It trains the same network as models/vaeformer (the CRA5 VAEformer codec: a transformer VAE with
a mean–scale hyperprior; see models/vaeformer/doc.go) with the same loss, rate term included, on
the same ERA5 training hours (written by the Go side as little-endian float32 [C, T, H, W] in
physical units), with the same batch, optimizer and thread count, and prints ONE JSON line with
the median train-step time.

Network, for windows x [B, w, C, H, W] (normalised per channel in the step, as the Go model does,
with the Go side's training mean and standard deviation), patch p, width D, latent c_y,
hyper-latent c_z, hyper width d_h (every Linear initialised as layers/linear: U(±√(3/in)),
zero biases):

    tokens:  edge-pad H, W to multiples of p; [B, n = ⌈H/p⌉·⌈W/p⌉, P = w·C·p·p]
    encoder: Linear(P, D) + 2-D sin–cos positions, L_e pre-LN blocks, LayerNorm,
             Linear(D, 2c_y) → μ, log σ² (clipped to [−12, 4])
    block:   x + Attn(LN(x)), then x + Linear(2D, D)(GELU(Linear(D, 2D)(LN(x))));
             Attn: one fused Linear(D, 3D) to q, k, v, softmax(q·kᵀ/√h)·v per head, Linear(D, D)
    h_a:     GELU(Linear(c_y, d_h)) on μ, edge-pad the token grid to even, 2×2 space-to-depth,
             GELU(Linear(4d_h, d_h)), Linear(d_h, c_z) → z
    p_z:     Ballé et al. 2018's factorised density per channel (filters 1-3-3-3-1)
    h_s:     GELU(Linear(c_z, d_h)), Linear(d_h, 4d_h), 2×2 depth-to-space, crop, GELU,
             Linear(d_h, 2c_y) → m, s = max(softplus(·), 0.11)
    decoder: Linear(c_y, D) + positions, L_d blocks, LayerNorm, Linear(D, P), un-patch, crop

LayerNorm ε is 1e-6 and GELU is exact (x·Φ(x)), as in the Go model. Training step, as the Go
model's Build: y = μ + σ·ε; z̃ = z + u and ỹ = y + u (u ~ U(−½, ½)) for the rate; the decoder
sees y + sg(m + ⌊y − m⌉ − y) (or ỹ with --decoder-noise); the loss per value is

    λ · mean(w_lat (x̂ − x)²) + (−Σ log₂ p(ỹ|z̃) − Σ log₂ p(z̃)) / N + β · KL / N,

and Adam (GoMLX's default ε = 1e-7) updates every parameter. Like the Go trainer, each step
reads the loss and the logged scalars (mse, bits per value, KL) back to the host.

A timed step is forward, backward, optimizer step and the read-back; the batch is cut from the
in-memory training hours before the timer starts, as the Go loop fetches its batch before its
step timer starts.

Usage: /usr/bin/python3 bench/peers/torch_vaeformer.py --data train.f32 --shape C,T,H,W
           --mean M --std S --lat-weights w1,...,wH [--threads 2] [--batch 8] [--steps 30] ...
Output: {"framework": "pytorch", ..., "median_step_seconds": ..., "parameters": ...}
"""

import argparse
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from qzoo_peer import emit, step_times

LAYER_NORM_EPSILON = 1e-6
LOG_VAR_MIN, LOG_VAR_MAX = -12.0, 4.0
SCALE_BOUND = 0.11  # lower bound of the Gaussian conditional's scale (CompressAI's)
LIKELIHOOD_MIN = 1e-9
DENSITY_FILTERS = (1, 3, 3, 3, 1)
DENSITY_INIT_TOP = 10.0


def gelu(x):
    return F.gelu(x)  # exact: x·Φ(x)


def normal_cdf(t):
    return 0.5 * (1 + torch.erf(t * (1 / math.sqrt(2))))


def bits_of(likelihood):
    return torch.log(likelihood) * (-1 / math.log(2))


def sincos_2d(nh, nw, d):
    """layers/position.Sinusoidal2D: [1, nh·nw, d]."""
    q = d // 4
    out = np.zeros((nh * nw, d), dtype=np.float32)
    for i in range(nh):
        for j in range(nw):
            for k in range(q):
                omega = 1 / 10000 ** (k / max(q, 1))
                out[i * nw + j, k] = math.sin(i * omega)
                out[i * nw + j, q + k] = math.cos(i * omega)
                out[i * nw + j, 2 * q + k] = math.sin(j * omega)
                out[i * nw + j, 3 * q + k] = math.cos(j * omega)
    return torch.from_numpy(out).unsqueeze(0)


def pad_edge(x, axis, n):
    """Appends n copies of x's last slice along axis (edge replication)."""
    if n == 0:
        return x
    last = x.narrow(axis, x.shape[axis] - 1, 1)
    return torch.cat([x, last.expand(*[n if a == axis else -1 for a in range(x.dim())])], axis)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        qkv = self.qkv(x).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)  # [3, B, H, n, h]
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(d // h))
        out = scores.softmax(-1) @ v  # [B, H, n, h]
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm_1 = nn.LayerNorm(d, eps=LAYER_NORM_EPSILON)
        self.attention = Attention(d, heads)
        self.norm_2 = nn.LayerNorm(d, eps=LAYER_NORM_EPSILON)
        self.mlp_in = nn.Linear(d, 2 * d)
        self.mlp_out = nn.Linear(2 * d, d)

    def forward(self, x):
        x = x + self.attention(self.norm_1(x))
        return x + self.mlp_out(gelu(self.mlp_in(self.norm_2(x))))


class Transformer(nn.Module):
    """Embedding + positions, blocks, final LayerNorm and head: the encoder's and decoder's trunk."""

    def __init__(self, d_in, d, heads, layers, d_out, nh, nw):
        super().__init__()
        self.embed = nn.Linear(d_in, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPSILON)
        self.head = nn.Linear(d, d_out)
        self.register_buffer("positions", sincos_2d(nh, nw, d))

    def forward(self, t):
        t = self.embed(t) + self.positions
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.norm(t))


class FactorisedDensity(nn.Module):
    """Ballé et al. 2018's factorised density, per channel, as models/vaeformer's densityLogits."""

    def __init__(self, channels):
        super().__init__()
        k = len(DENSITY_FILTERS) - 1
        init_scale = DENSITY_INIT_TOP ** (1 / k)
        self.matrices, self.biases, self.factors = nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        for i in range(k):
            fin, fout = DENSITY_FILTERS[i], DENSITY_FILTERS[i + 1]
            h_init = math.log(math.expm1(1 / init_scale / fout))
            self.matrices.append(nn.Parameter(torch.full((channels, fout, fin), h_init)))
            self.biases.append(nn.Parameter(torch.rand(channels, fout, 1) - 0.5))
            if i < k - 1:
                self.factors.append(nn.Parameter(torch.zeros(channels, fout, 1)))

    def logits(self, x):  # [c_z, 1, n] → [c_z, 1, n]
        for i, (h, b) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(h), x) + b
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, z):  # [B, mh, mw, c_z] → same shape
        cz = z.shape[-1]
        flat = z.reshape(-1, cz).t().reshape(cz, 1, -1)
        n = flat.shape[-1]
        both = self.logits(torch.cat([flat - 0.5, flat + 0.5], 2))
        lower, upper = both[..., :n], both[..., n:]
        sign = -torch.where(lower + upper > 0, torch.ones_like(lower), -torch.ones_like(lower))
        lik = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs().clamp_min(LIKELIHOOD_MIN)
        return lik.reshape(cz, n).t().reshape(z.shape)


class VAEformer(nn.Module):
    def __init__(self, a, nh, nw):
        super().__init__()
        self.a, self.nh, self.nw = a, nh, nw
        p = a.patch
        tokens = a.window * a.channels * p * p
        self.encoder = Transformer(tokens, a.dim, a.heads, a.encoder_layers, 2 * a.latent, nh, nw)
        self.decoder = Transformer(a.latent, a.dim, a.heads, a.decoder_layers, tokens, nh, nw)
        hd = a.hyper_dim
        self.ha_in, self.ha_merge, self.ha_out = nn.Linear(a.latent, hd), nn.Linear(4 * hd, hd), nn.Linear(hd, a.hyper_latent)
        self.hs_in, self.hs_split, self.hs_out = nn.Linear(a.hyper_latent, hd), nn.Linear(hd, 4 * hd), nn.Linear(hd, 2 * a.latent)
        self.density = FactorisedDensity(a.hyper_latent)
        for m in self.modules():  # layers/linear's initialisation: U(±√(3/in)), zero biases
            if isinstance(m, nn.Linear):
                bound = math.sqrt(3 / m.in_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def patchify(self, x):
        b, w, c, h, wd = x.shape
        p, nh, nw = self.a.patch, self.nh, self.nw
        x = F.pad(x.reshape(b, w * c, h, wd), (0, nw * p - wd, 0, nh * p - h), mode="replicate")
        x = x.reshape(b, w, c, nh, p, nw, p).permute(0, 3, 5, 1, 2, 4, 6)
        return x.reshape(b, nh * nw, w * c * p * p)

    def unpatchify(self, t, dims):
        b, w, c, h, wd = dims
        p, nh, nw = self.a.patch, self.nh, self.nw
        x = t.reshape(b, nh, nw, w, c, p, p).permute(0, 3, 4, 1, 5, 2, 6).reshape(b, w, c, nh * p, nw * p)
        return x[..., :h, :wd]

    def hyper_analysis(self, y):  # [B, nh, nw, c_y] → [B, mh, mw, c_z]
        t = gelu(self.ha_in(y))
        b, nh, nw, hd = t.shape
        t = pad_edge(pad_edge(t, 1, nh % 2), 2, nw % 2)
        mh, mw = (nh + 1) // 2, (nw + 1) // 2
        t = t.reshape(b, mh, 2, mw, 2, hd).permute(0, 1, 3, 2, 4, 5).reshape(b, mh, mw, 4 * hd)
        return self.ha_out(gelu(self.ha_merge(t)))

    def hyper_synthesis(self, z):  # [B, mh, mw, c_z] → m, s [B, nh, nw, c_y]
        b, mh, mw, _ = z.shape
        hd, cy = self.a.hyper_dim, self.a.latent
        t = self.hs_split(gelu(self.hs_in(z)))
        t = t.reshape(b, mh, mw, 2, 2, hd).permute(0, 1, 3, 2, 4, 5).reshape(b, 2 * mh, 2 * mw, hd)
        out = self.hs_out(gelu(t[:, :self.nh, :self.nw]))
        return out[..., :cy], F.softplus(out[..., cy:]).clamp_min(SCALE_BOUND)

    def forward(self, x, mean, std, lat_weights):
        a = self.a
        b = x.shape[0]
        xn = (x - mean) / std
        enc = self.encoder(self.patchify(xn)).reshape(b, self.nh, self.nw, 2 * a.latent)
        mean, log_var = enc[..., :a.latent], enc[..., a.latent:].clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        y = mean
        if a.kl_weight > 0:
            y = y + torch.exp(0.5 * log_var) * torch.randn_like(y)
        kl = 0.5 * (mean.square() + log_var.exp() - (log_var + 1)).sum()
        z = self.hyper_analysis(mean)
        zq = z + (torch.rand_like(z) - 0.5)
        z_bits = bits_of(self.density.likelihood(zq)).sum()
        m, s = self.hyper_synthesis(zq)
        y_rate = y + (torch.rand_like(y) - 0.5)
        if a.decoder_noise:
            y_dec = y_rate
        else:
            y_dec = y + (m + torch.round(y - m) - y).detach()
        v = (y_rate - m).abs()
        lik = (normal_cdf((0.5 - v) / s) - normal_cdf((-0.5 - v) / s)).clamp_min(LIKELIHOOD_MIN)
        y_bits = bits_of(lik).sum()
        recon = self.unpatchify(self.decoder(y_dec.reshape(b, self.nh * self.nw, a.latent)), xn.shape)
        sq = (recon - xn).square()
        if lat_weights is not None:
            sq = sq * lat_weights.reshape(1, 1, 1, -1, 1)
        values = xn.numel()
        mse = sq.mean()
        bpv = (y_bits + z_bits) / values
        kl_per_value = kl / values
        return a.lam * mse + bpv + a.kl_weight * kl_per_value, mse, bpv, kl_per_value


def floats(s):
    return [float(v) for v in s.split(",")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="training hours, little-endian float32 [C, T, H, W]")
    ap.add_argument("--shape", required=True, help="C,T,H,W of --data")
    ap.add_argument("--mean", required=True, type=floats, help="per-channel training mean, comma-separated")
    ap.add_argument("--std", required=True, type=floats, help="per-channel training standard deviation")
    ap.add_argument("--lat-weights", type=floats, help="cos(latitude) weights [H] of the squared error (none: uniform)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the Go side's cores)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--window", type=int, default=8, help="w, hours per window (era5_window)")
    ap.add_argument("--patch", type=int, default=4, help="p (vaeformer_patch)")
    ap.add_argument("--dim", type=int, default=64, help="D (vaeformer_dim)")
    ap.add_argument("--heads", type=int, default=4, help="vaeformer_heads")
    ap.add_argument("--encoder-layers", type=int, default=2)
    ap.add_argument("--decoder-layers", type=int, default=2)
    ap.add_argument("--latent", type=int, default=16, help="c_y (vaeformer_latent)")
    ap.add_argument("--hyper-latent", type=int, default=8, help="c_z (vaeformer_hyper_latent)")
    ap.add_argument("--hyper-dim", type=int, default=64, help="d_h (vaeformer_hyper_dim)")
    ap.add_argument("--lambda", dest="lam", type=float, default=100.0, help="λ (vaeformer_lambda)")
    ap.add_argument("--kl-weight", type=float, default=1e-4, help="β (vaeformer_kl_weight)")
    ap.add_argument("--decoder-noise", action="store_true", help="vaeformer_decoder_noise")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-7)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    if a.steps < 1 or a.warmup < 0 or a.batch < 1 or a.threads < 1:
        ap.error("--steps, --batch and --threads must be ≥ 1 and --warmup ≥ 0")
    c, t, h, w = (int(v) for v in a.shape.split(","))
    a.channels = c
    if len(a.mean) != c or len(a.std) != c or (a.lat_weights is not None and len(a.lat_weights) != h):
        ap.error(f"--mean and --std need {c} values and --lat-weights {h}")
    if t < a.window:
        ap.error(f"--data holds {t} hours, fewer than a window of {a.window}")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    fields = np.fromfile(a.data, dtype="<f4")
    if fields.size != c * t * h * w:
        raise ValueError(f"{a.data}: {fields.size} values, --shape says {c}×{t}×{h}×{w}")
    mean = torch.tensor(a.mean, dtype=torch.float32).reshape(1, 1, c, 1, 1)
    std = torch.tensor(a.std, dtype=torch.float32).reshape(1, 1, c, 1, 1)
    # [T, C, H, W] in physical units: a window is one contiguous slice.
    hours = torch.from_numpy(np.ascontiguousarray(fields.reshape(c, t, h, w).transpose(1, 0, 2, 3)))
    lat_weights = None if a.lat_weights is None else torch.tensor(a.lat_weights, dtype=torch.float32)
    starts = t - a.window + 1
    order = np.random.default_rng(a.seed).permutation(starts)

    nh, nw = -(-h // a.patch), -(-w // a.patch)
    net = VAEformer(a, nh, nw)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    net.train()

    def prepare(step):
        picks = [order[(step * a.batch + i) % starts] for i in range(a.batch)]
        return torch.stack([hours[s:s + a.window] for s in picks])

    def train_step(x):
        opt.zero_grad(set_to_none=True)
        loss, mse, bpv, kl = net(x, mean, std, lat_weights)
        loss.backward()
        opt.step()
        return (loss.item(), mse.item(), bpv.item(), kl.item())

    values, stats = step_times(prepare, train_step, a.warmup, a.steps)
    emit(dict(stats,
              batch=a.batch,
              tokens=nh * nw,
              warmup_steps=a.warmup,
              steps=a.steps,
              steps_per_second=1.0 / stats["median_step_seconds"],
              final_loss=values[-1][0],
              final_mse=values[-1][1],
              final_bits_per_value=values[-1][2],
              parameters=sum(p.numel() for p in net.parameters())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
