#!/usr/bin/python3
"""PyTorch peer of qzoo's models/llama, for the speed benchmark of go run ./bench llama (bench/llama.go).

It runs llama2.c's Llama (Touvron et al. 2023; Karpathy's llama2.c), written here in plain PyTorch,
on the same llama2.c checkpoint (stories260K.bin), and measures with the same thread count as the Go
side:

  training:   fine-tuning on windows of the same token stream (Shakespeare tokenized with tok512,
              written by the Go side as little-endian int32), batch B × L, cross-entropy, AdamW;
              the median of the timed steps;
  generation: greedy decoding from BOS at each batch of --gen-batches (B sequences together, every
              one from BOS), one token per sequence per forward pass with a preallocated key/value
              cache (as llama2.c's run.c), under torch.inference_mode; the wall time of the fastest
              of --gen-runs timed generations, after an untimed one, per batch.

Memory: glibc's malloc serves every block above 32 MiB (e.g. the [32, 8, 256, 256] attention
scores of training, 64 MiB) with a fresh mmap and returns it with munmap when freed, so every such
tensor faults its pages in again; in this project's VMs that made a 64 MiB elementwise op take
~370 ms instead of ~5 ms and a training step 5-10× slower. The script therefore tells glibc
(mallopt) to serve large blocks from the heap and to keep freed memory, as PyTorch's own
allocators on accelerators, jemalloc, and the Go backend's buffer pool do; --system-malloc keeps
glibc's defaults.

It prints ONE JSON line. With --expect-tokens (the Go model's greedy tokens) it first checks that
its own greedy tokens are the same, and exits with status 1 if they are not.

Model, for activations x [B, T, d] (d = 64, H = 8 query heads of size h = 8, H_kv = 4):

    n = x / sqrt(mean_d(x²) + 1e-5) · g_att
    q = RoPE(n·Wqᵀ), k = RoPE(n·Wkᵀ), v = n·Wvᵀ;  query head i reads key/value head i // (H/H_kv)
    a_t = Σ_{s≤t} softmax_s(q_t·k_s/√h) v_s;  x ← x + a·Woᵀ
    m = x / sqrt(mean_d(x²) + 1e-5) · g_ffn;  x ← x + (SiLU(m·W1ᵀ) ⊙ m·W3ᵀ)·W2ᵀ
    logits = RMSNorm(x)·g_final · Eᵀ  (classifier tied to the token embedding E)

RoPE rotates the adjacent pairs (2i, 2i+1) of each head at position p by p·θ_i, θ_i = 10000^(−2i/h).

Checkpoint (llama2.c legacy format): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
vocab_size (negative: untied classifier), seq_len), then float32: token embedding [V, d],
rms_att [L, d], wq [L, d, d], wk [L, kv, d], wv [L, kv, d], wo [L, d, d], rms_ffn [L, d],
w1 [L, hidden, d], w2 [L, d, hidden], w3 [L, hidden, d], rms_final [d], RoPE tables (skipped).

Usage: /usr/bin/python3 bench/peers/torch_llama.py --checkpoint stories260K.bin --tokens train.i32
           [--threads 2] [--batch 32] [--seq-len 256] [--warmup 2] [--steps 20] [--gen-tokens 256]
           [--gen-batches 1,8]
Output: {"framework": "pytorch", ..., "median_step_seconds": ..., "generate_seconds_b1": ..., "generate_seconds_b8": ...}
"""

import argparse
import ctypes
import ctypes.util
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from qzoo_peer import emit, step_times

BOS = 1  # llama2.c's beginning of a sequence (and end of a story)
RMS_EPSILON = 1e-5


def keep_freed_memory():
    """Makes glibc serve every block from the heap (no mmap) and never trim it, so that freed
    tensors are reused without page faults. Returns a description for the report."""
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        ok = libc.mallopt(m_mmap_max, 0) == 1 and libc.mallopt(m_trim_threshold, 2**31 - 1) == 1
    except (OSError, AttributeError):
        ok = False
    return "glibc, no mmap, no trim" if ok else "glibc defaults (mallopt failed)"


def read_checkpoint(path):
    """Reads a llama2.c legacy checkpoint: (config dict, dict of float32 numpy arrays)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 28:
        raise ValueError(f"{path}: {len(raw)} bytes is shorter than the 28-byte header")
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // heads
    kv_dim = kv_heads * head
    shapes = [
        ("embedding", (vocab, dim)),
        ("rms_att", (layers, dim)),
        ("wq", (layers, dim, dim)),
        ("wk", (layers, kv_dim, dim)),
        ("wv", (layers, kv_dim, dim)),
        ("wo", (layers, dim, dim)),
        ("rms_ffn", (layers, dim)),
        ("w1", (layers, hidden, dim)),
        ("w2", (layers, dim, hidden)),
        ("w3", (layers, hidden, dim)),
        ("rms_final", (dim,)),
        ("rope_tables", (seq_len * head,)),  # freq_cis_real and _imag: recomputed, skipped
    ]
    if not shared:
        shapes.append(("classifier", (vocab, dim)))
    want = 28 + 4 * sum(math.prod(s) for _, s in shapes)
    if len(raw) != want:
        raise ValueError(f"{path}: header ({dim}, {hidden}, {layers}, {heads}, {kv_heads}, {vocab}, "
                         f"{seq_len}) describes {want} bytes, the file has {len(raw)}")
    values = np.frombuffer(raw, dtype="<f4", offset=28)
    weights, at = {}, 0
    for name, shape in shapes:
        n = math.prod(shape)
        weights[name] = values[at:at + n].reshape(shape).copy()
        at += n
    if not shared:
        raise ValueError(f"{path}: untied classifier; the benchmarked model ties it to the embedding")
    cfg = dict(dim=dim, hidden_dim=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
               vocab_size=vocab, seq_len=seq_len)
    return cfg, weights


class RMSNorm(nn.Module):
    def __init__(self, gain):
        super().__init__()
        self.weight = nn.Parameter(torch.from_numpy(gain))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPSILON) * self.weight


def linear(w):
    """nn.Linear without bias holding w [out, in] (PyTorch's layout, as llama2.c stores it)."""
    out_features, in_features = w.shape
    layer = nn.Linear(in_features, out_features, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
    return layer


def rope(x, cos, sin):
    """Rotates the adjacent pairs of x [B, T, heads, h] by the angles of cos, sin [T, h/2]."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg, w, i):
        super().__init__()
        self.heads, self.kv_heads = cfg["heads"], cfg["kv_heads"]
        self.head = cfg["dim"] // cfg["heads"]
        self.attention_norm = RMSNorm(w["rms_att"][i])
        self.wq, self.wk, self.wv, self.wo = (linear(w[n][i]) for n in ("wq", "wk", "wv", "wo"))
        self.ffn_norm = RMSNorm(w["rms_ffn"][i])
        self.w1, self.w2, self.w3 = (linear(w[n][i]) for n in ("w1", "w2", "w3"))

    def forward(self, x, cos, sin, mask, cache=None, pos=0):
        b, t, _ = x.shape
        n = self.attention_norm(x)
        q = rope(self.wq(n).view(b, t, self.heads, self.head), cos, sin)
        k = rope(self.wk(n).view(b, t, self.kv_heads, self.head), cos, sin)
        v = self.wv(n).view(b, t, self.kv_heads, self.head)
        if cache is not None:  # llama2.c's run.c: write this position, read positions 0..pos
            k_cache, v_cache = cache
            k_cache[:, pos:pos + t] = k
            v_cache[:, pos:pos + t] = v
            k, v = k_cache[:, :pos + t], v_cache[:, :pos + t]
        group = self.heads // self.kv_heads
        k = k.repeat_interleave(group, dim=2)  # query head i reads key/value head i // group
        v = v.repeat_interleave(group, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, heads, ·, h]
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head)
        if mask is not None:
            scores = scores + mask
        a = (F.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, t, -1)
        x = x + self.wo(a)
        m = self.ffn_norm(x)
        return x + self.w2(F.silu(self.w1(m)) * self.w3(m))


class Llama(nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        with torch.no_grad():
            self.embedding.weight.copy_(torch.from_numpy(w["embedding"]))
        self.blocks = nn.ModuleList(Block(cfg, w, i) for i in range(cfg["layers"]))
        self.norm = RMSNorm(w["rms_final"])
        head = cfg["dim"] // cfg["heads"]
        theta = 10000.0 ** (-torch.arange(0, head, 2, dtype=torch.float64) / head)  # θ_i = 10000^(−2i/h)
        angles = torch.outer(torch.arange(cfg["seq_len"], dtype=torch.float64), theta)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, tokens, pos=0, caches=None):
        """Logits [B, T, V] of tokens [B, T] at positions pos, pos+1, …; with caches (one
        (keys, values) pair per block, [B, seq_len, H_kv, h] each), attention reads the cache."""
        t = tokens.shape[1]
        x = self.embedding(tokens)
        cos, sin = self.cos[pos:pos + t], self.sin[pos:pos + t]
        mask = None
        if t > 1:
            mask = torch.full((t, t), float("-inf")).triu(1)
            if caches is not None:
                mask = torch.cat((torch.zeros(t, pos), mask), dim=1)
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, mask, None if caches is None else caches[i], pos)
        return self.norm(x) @ self.embedding.weight.t()


def train_batches(tokens, batch, seq_len, seed):
    """Endless batches (inputs, labels) [batch, seq_len] of whole windows of seq_len target tokens,
    in a shuffled order: inputs are BOS and the seq_len−1 tokens before each target, as
    datasets/text builds them."""
    windows = torch.from_numpy(tokens[: len(tokens) // seq_len * seq_len].astype(np.int64)).view(-1, seq_len)
    if windows.shape[0] < batch:
        raise ValueError(f"{windows.shape[0]} windows of {seq_len} tokens cannot fill a batch of {batch}")
    rng = np.random.default_rng(seed)
    bos = torch.full((batch, 1), BOS, dtype=torch.int64)
    while True:
        order = torch.from_numpy(rng.permutation(windows.shape[0]))
        for start in range(0, len(order) - batch + 1, batch):
            labels = windows[order[start:start + batch]]
            yield torch.cat((bos, labels[:, :-1]), dim=1).contiguous(), labels.contiguous()


def measure_training(cfg, weights, tokens, args):
    net = Llama(cfg, weights)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(args.beta1, args.beta2),
                            eps=args.eps, weight_decay=args.weight_decay)
    batches = train_batches(tokens, args.batch, args.seq_len, args.seed)

    def train_step(batch):
        inputs, labels = batch
        opt.zero_grad(set_to_none=True)
        logits = net(inputs)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))
        loss.backward()
        opt.step()
        return loss.item()

    losses, stats = step_times(lambda _: next(batches), train_step, args.warmup, args.steps)
    params = sum(p.numel() for p in net.parameters())
    return losses, params, stats


def greedy(net, cfg, n, batch):
    """n forward passes of one token per sequence of batch, every one from BOS, each fed its
    previous argmax; returns the tokens chosen, [batch][n]."""
    kv, head = cfg["kv_heads"], cfg["dim"] // cfg["heads"]
    caches = [(torch.zeros(batch, cfg["seq_len"], kv, head), torch.zeros(batch, cfg["seq_len"], kv, head))
              for _ in range(cfg["layers"])]
    token = torch.full((batch, 1), BOS, dtype=torch.int64)
    out = []
    for pos in range(n):
        logits = net(token, pos, caches)
        token = logits[:, -1].argmax(-1, keepdim=True)
        out.append(token[:, 0])
    return torch.stack(out, dim=1).tolist()


def measure_generation(cfg, weights, n, runs, batch):
    """The wall time of the fastest of runs greedy generations of n tokens per sequence of batch
    (after an untimed one), and its tokens [batch][n]."""
    net = Llama(cfg, weights)
    net.eval()
    best = math.inf
    with torch.inference_mode():
        greedy(net, cfg, n, batch)  # warm-up
        for _ in range(runs):
            t0 = time.perf_counter()
            tokens = greedy(net, cfg, n, batch)
            best = min(best, time.perf_counter() - t0)
    return best, tokens


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="llama2.c legacy checkpoint (stories260K.bin)")
    ap.add_argument("--tokens", help="training token stream, little-endian int32 (required unless --steps 0)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (match the Go side's cores)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=256, help="target tokens per training window (text_seq_len)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps (0: no training)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-7, help="Adam's ε (GoMLX's default 1e-7)")
    ap.add_argument("--gen-tokens", type=int, default=256, help="forward passes of greedy decoding (0: no generation)")
    ap.add_argument("--gen-runs", type=int, default=5, help="timed generations; the fastest counts")
    ap.add_argument("--gen-batches", default="1", help="comma-separated batches generation is measured at")
    ap.add_argument("--expect-tokens", default="", help="comma-separated greedy tokens the generation must start with")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--system-malloc", action="store_true", help="keep glibc's mmap and trim thresholds (see the doc)")
    args = ap.parse_args(argv)
    if args.steps < 0 or args.warmup < 0 or args.batch < 1 or args.threads < 1 or args.gen_tokens < 0 or args.gen_runs < 1:
        ap.error("--batch, --threads and --gen-runs must be ≥ 1, --steps, --warmup and --gen-tokens ≥ 0")
    if args.steps > 0 and not args.tokens:
        ap.error("--tokens is required for training")

    malloc = "glibc defaults" if args.system_malloc else keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg, weights = read_checkpoint(args.checkpoint)
    if args.seq_len > cfg["seq_len"]:
        ap.error(f"--seq-len {args.seq_len} exceeds the model's context {cfg['seq_len']}")
    if args.gen_tokens > cfg["seq_len"]:
        ap.error(f"--gen-tokens {args.gen_tokens} exceeds the model's context {cfg['seq_len']}")
    report = {"malloc": malloc, "config": cfg}

    batches = [int(b) for b in args.gen_batches.split(",")]
    if any(b < 1 for b in batches):
        ap.error(f"--gen-batches {args.gen_batches}: every batch must be ≥ 1")
    if args.gen_tokens > 0:
        expected = [int(t) for t in args.expect_tokens.split(",")] if args.expect_tokens else None
        for batch in batches:
            elapsed, rows = measure_generation(cfg, weights, args.gen_tokens, args.gen_runs, batch)
            for b, tokens in enumerate(rows):
                want = expected or rows[0]
                if tokens[:len(want)] != want:
                    at = next((i for i, (x, y) in enumerate(zip(tokens, want)) if x != y), min(len(tokens), len(want)))
                    print(f"torch_llama.py: batch {batch}, sequence {b}: greedy tokens differ from the expected ones "
                          f"at position {at}:\n  got      {tokens[:len(want)]}\n  expected {want}", file=sys.stderr)
                    return 1
            report[f"generate_seconds_b{batch}"] = elapsed
            report[f"generate_tokens_per_second_b{batch}"] = batch * args.gen_tokens / elapsed
            report["greedy_tokens"] = rows[0]
        if expected:
            report["tokens_checked"] = len(expected)
        report.update(generate_tokens=args.gen_tokens, generate_runs=args.gen_runs, generate_batches=batches)

    if args.steps > 0:
        tokens = np.fromfile(args.tokens, dtype="<i4")
        if tokens.size == 0 or tokens.min() < 0 or tokens.max() >= cfg["vocab_size"]:
            raise ValueError(f"{args.tokens}: {tokens.size} tokens, not all in [0, {cfg['vocab_size']})")
        losses, params, stats = measure_training(cfg, weights, tokens, args)
        report.update(stats, batch=args.batch, seq_len=args.seq_len, warmup_steps=args.warmup, steps=args.steps,
                      train_tokens_per_second=args.batch * args.seq_len / stats["median_step_seconds"],
                      first_loss=losses[0], final_loss=losses[-1], parameters=params)
    emit(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
