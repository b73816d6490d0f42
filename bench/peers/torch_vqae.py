#!/usr/bin/python3
"""PyTorch peer of qzoo's models/vqae, for the speed benchmark of go run ./bench vqae (bench/vqae.go).

It trains the same network as models/vqae with the SimVQ quantizer of layers/vq/simvq.go
(Zhu et al. 2024, arXiv:2411.02038), on the same real Fashion-MNIST images, with the same batch,
optimizer and thread count, and prints ONE JSON line with the median train-step time.

Network (NCHW here; the Go model is NHWC, the arithmetic is identical):

    encoder: Conv2d(1, C, 4, 2, 1) ReLU, Conv2d(C, 2C, 4, 2, 1) ReLU, Conv2d(2C, D, 3, 1, 1)
    SimVQ:   E [K, D] ~ N(0, 1/D) frozen; C = E·Wᵀ + b with W [D, D], b [D] trained
             (nn.Linear's default init, as layers/vq/simvq.go);
             k = argmin_j ‖z‖² − 2 z·c_j + ‖c_j‖²,  q = c_k,  output z + sg(q − z),
             L_q = mean‖sg(z) − q‖² + β·mean‖z − sg(q)‖²  (β = 0.25, layers/vq/plain.go)
    decoder: Conv2d(D, 2C, 3, 1, 1) ReLU, ConvTranspose2d(2C, C, 4, 2, 1) ReLU,
             ConvTranspose2d(C, 1, 4, 2, 1)
    loss:    mean (x − x̂)² + L_q;  Adam, lr 1e-3.

Like the Go model, each step also computes the batch's code perplexity and number of used codes
(the Go trainer reports them as metrics every step) and reads the loss back to the host.

A timed step is forward, backward, optimizer step and the read-back of loss and statistics; the
batch is cut from the in-memory training set before the timer starts, as the Go loop fetches its
batch before its step timer starts.

Usage: /usr/bin/python3 bench/peers/torch_vqae.py [--threads 2] [--batch 128] [--warmup 5] [--steps 30]
Output: {"framework": "pytorch", ..., "median_step_seconds": ..., "steps_per_second": ...}
"""

import argparse
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from qzoo_peer import emit, step_times

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"


def read_idx_images(path):
    """Reads a (gzipped) idx3 file of uint8 images as float32 [N, 1, H, W] in [0, 1]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 0x00000803:
        raise ValueError(f"{path}: magic {magic:#x} is not that of an idx3 uint8 file (0x803)")
    pixels = np.frombuffer(raw[16:], dtype=np.uint8)
    if pixels.size != n * h * w:
        raise ValueError(f"{path}: {pixels.size} pixels, header says {n}×{h}×{w}")
    return pixels.reshape(n, 1, h, w).astype(np.float32) / 255.0


class SimVQ(nn.Module):
    """SimVQ as layers/vq/simvq.go: frozen basis E, trained linear map C = E·Wᵀ + b."""

    def __init__(self, k, d, beta):
        super().__init__()
        self.k, self.beta = k, beta
        self.register_buffer("basis", torch.randn(k, d) / d ** 0.5)
        self.proj = nn.Linear(d, d, bias=True)  # uniform(±1/√D) init, as linearInitializer

    def forward(self, z):
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)  # [N, D], the Go model's layout
        codebook = self.proj(self.basis)  # [K, D]
        with torch.no_grad():
            distances = (flat.square().sum(1, keepdim=True) - 2 * flat @ codebook.t()
                         + codebook.square().sum(1).unsqueeze(0))
            idx = distances.argmin(1)
        q = codebook[idx]  # differentiable w.r.t. W and b
        loss = F.mse_loss(q, flat.detach()) + self.beta * F.mse_loss(flat, q.detach())
        out = flat + (q - flat).detach()
        with torch.no_grad():
            counts = torch.bincount(idx, minlength=self.k).float()
            p = counts / idx.numel()
            perplexity = torch.exp(-(p * torch.log(p.clamp_min(1e-30))).sum())
            used = (counts > 0).sum()
        return out.reshape(b, h, w, d).permute(0, 3, 1, 2), loss, perplexity, used


class VQAE(nn.Module):
    def __init__(self, channels, latent_dim, codebook_size, beta):
        super().__init__()
        c, d = channels, latent_dim
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * c, d, 3, 1, 1))
        self.quantizer = SimVQ(codebook_size, d, beta)
        self.decoder = nn.Sequential(
            nn.Conv2d(d, 2 * c, 3, 1, 1), nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(c, 1, 4, 2, 1))

    def forward(self, x):
        z = self.encoder(x)
        q, q_loss, perplexity, used = self.quantizer(z)
        recon = self.decoder(q)
        mse = F.mse_loss(recon, x)
        return mse + q_loss, mse, perplexity, used


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the Go side's cores)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--channels", type=int, default=32, help="C (vqae_channels)")
    ap.add_argument("--latent-dim", type=int, default=16, help="D (vqae_latent_dim)")
    ap.add_argument("--codebook-size", type=int, default=1024, help="K (vq_codebook_size)")
    ap.add_argument("--beta", type=float, default=0.25, help="β (vq_beta)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=DEFAULT_DATA_DIR,
                    help=f"directory holding {TRAIN_IMAGES} (or the file itself)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch < 1 or args.threads < 1:
        ap.error("--steps, --batch and --threads must be ≥ 1 and --warmup ≥ 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    path = args.data if os.path.isfile(args.data) else os.path.join(args.data, TRAIN_IMAGES)
    images = torch.from_numpy(read_idx_images(path))
    rng = np.random.default_rng(args.seed)
    order = torch.from_numpy(rng.permutation(images.shape[0]))

    net = VQAE(args.channels, args.latent_dim, args.codebook_size, args.beta)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    net.train()

    def prepare(step):
        start = (step * args.batch) % (images.shape[0] - args.batch + 1)
        return images[order[start:start + args.batch]].contiguous()

    def train_step(x):
        opt.zero_grad(set_to_none=True)
        loss, mse, perplexity, used = net(x)
        loss.backward()
        opt.step()
        return (loss.item(), mse.item(), perplexity.item(), used.item())

    values, stats = step_times(prepare, train_step, args.warmup, args.steps)
    emit(dict(stats,
              batch=args.batch,
              channels=args.channels,
              latent_dim=args.latent_dim,
              codebook_size=args.codebook_size,
              warmup_steps=args.warmup,
              steps=args.steps,
              steps_per_second=1.0 / stats["median_step_seconds"],
              final_loss=values[-1][0],
              parameters=sum(p.numel() for p in net.parameters())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
