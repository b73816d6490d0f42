"""An independent reader and forward pass of a Hugging Face Llama-family model directory.

Written from the formats' descriptions and transformers' modeling_llama / modeling_qwen2
equations, in numpy and float64, without qzoo's code: it reads config.json, the safetensors
file(s) (8-byte little-endian header length, JSON header, raw little-endian arrays; sharded
through model.safetensors.index.json) and runs the decoder with transformers' rotate_half
RoPE (pairs i, i + h/2), so that logits matching qzoo's (which rotates adjacent pairs and
permutes the query and key rows on import) show the permutation right. A rope_scaling of type
"linear" or "llama3" (Llama 3.1/3.2) rescales the inverse frequencies here, as transformers'
modeling_rope_utils describes them, written over the whole vector with numpy.

A directory qzoo wrote quantized (quantization_config.quant_method "qzoo") is dequantized
from its packed codes and scales first.

usage: hf_forward.py MODEL_DIR TOKEN_IDS(comma-separated) OUT.json
OUT.json: {"logits": [[...] per position], "tensors": {name: {"shape": [...], "sha256": hex
digest of the values as little-endian float32 (integers: as stored)}}}
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        s, t = e["data_offsets"]
        raw = data[s:t]
        dt = e["dtype"]
        if dt == "BF16":
            a = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        elif dt in ("F16", "F32", "F64"):
            a = np.frombuffer(raw, {"F16": "<f2", "F32": "<f4", "F64": "<f8"}[dt])
        else:
            a = np.frombuffer(raw, {"U8": "u1", "I32": "<i4", "I64": "<i8"}[dt])
        out[name] = a.reshape(e["shape"])
    return out


def read_dir(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        tensors = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            tensors.update(read_safetensors(os.path.join(d, shard)))
        return tensors
    return read_safetensors(os.path.join(d, "model.safetensors"))


def dequantize(cfg, w):
    """Replaces qzoo's quantized linear weights (X.qweight + X.scales/X.zeros or X.absmax, the
    layout of models/llama/hfquant.go) by X.weight, dequantized."""
    qc = cfg.get("quantization_config")
    if not qc:
        return w
    assert qc["quant_method"] == "qzoo", qc
    d, inter = cfg["hidden_size"], cfg["intermediate_size"]
    heads = cfg["num_attention_heads"]
    kvd = (cfg.get("num_key_value_heads") or heads) * (d // heads)
    shapes = {"self_attn.q_proj": (d, d), "self_attn.k_proj": (kvd, d), "self_attn.v_proj": (kvd, d),
              "self_attn.o_proj": (d, d), "mlp.gate_proj": (inter, d), "mlp.up_proj": (inter, d),
              "mlp.down_proj": (d, inter)}
    bits, gs = qc["bits"], qc["group_size"]
    out = {k: v for k, v in w.items() if not k.endswith((".qweight", ".scales", ".zeros", ".absmax"))}
    for name in [k for k in w if k.endswith(".qweight")]:
        base = name[:-len(".qweight")]
        rows, cols = shapes[base.split(".", 3)[3]]
        n = rows * cols
        stream = np.unpackbits(w[name], bitorder="little")[:n * bits].reshape(n, bits).astype(np.int64)
        codes = (stream << np.arange(bits)).sum(axis=1)
        k = np.arange(n)
        g = gs or cols
        group = k // g if g > cols else (k // cols) * (-(-cols // g)) + (k % cols) // g
        if qc["method"] == "nf4":
            c = w[base + ".absmax"].astype(np.float64)[group]
            wq = np.where(c > 0, w["qzoo_quant.nf4_levels"][codes] * c, 0.0)
        else:
            z = (2 ** (bits - 1) - 1) if qc["symmetric"] else w[base + ".zeros"].astype(np.float64)[group]
            wq = (codes - z) * w[base + ".scales"].astype(np.float64)[group]
        out[base + ".weight"] = wq.astype(np.float32).reshape(rows, cols)
    return out


def rms_norm(x, g, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def inv_freq(cfg, hd):
    """RoPE's inverse frequencies theta^(-2i/hd), rescaled by rope_scaling."""
    f = 1.0 / cfg.get("rope_theta", 10000.0) ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "default":
        return f
    if kind == "linear":
        return f / rs["factor"]
    assert kind == "llama3", rs
    factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    wavelen = 2 * np.pi / f
    smooth = (old / wavelen - lo) / (hi - lo)
    mid = (1 - smooth) * f / factor + smooth * f
    return np.where(wavelen < old / hi, f, np.where(wavelen > old / lo, f / factor, mid))


def forward(cfg, w, tokens):
    f = {k: v.astype(np.float64) for k, v in w.items()}
    d = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    hd = d // heads
    eps = cfg["rms_norm_eps"]
    T = len(tokens)
    x = f["model.embed_tokens.weight"][tokens]  # [T, d]
    ang = np.outer(np.arange(T, dtype=np.float64), inv_freq(cfg, hd))
    emb = np.concatenate([ang, ang], axis=-1)  # [T, hd]
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        n = rms_norm(x, f[p + "input_layernorm.weight"], eps)

        def proj(name):
            y = n @ f[p + "self_attn.%s.weight" % name].T
            if p + "self_attn.%s.bias" % name in f:
                y = y + f[p + "self_attn.%s.bias" % name]
            return y

        q = proj("q_proj").reshape(T, heads, hd)
        k = proj("k_proj").reshape(T, kv_heads, hd)
        v = proj("v_proj").reshape(T, kv_heads, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = heads // kv_heads
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        a = np.einsum("hts,shd->thd", s, v).reshape(T, d)
        x = x + a @ f[p + "self_attn.o_proj.weight"].T
        m = rms_norm(x, f[p + "post_attention_layernorm.weight"], eps)
        g = m @ f[p + "mlp.gate_proj.weight"].T
        u = m @ f[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ f[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, f["model.norm.weight"], eps)
    cls = f.get("lm_head.weight")
    if cfg.get("tie_word_embeddings", False):
        cls = f["model.embed_tokens.weight"]
    return x @ cls.T


def main():
    d, toks, out = sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3]
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = read_dir(d)
    summary = {}
    for name, a in w.items():
        raw = a.astype("<f4").tobytes() if a.dtype.kind == "f" else a.tobytes()
        summary[name] = {"shape": list(a.shape), "sha256": hashlib.sha256(raw).hexdigest()}
    logits = forward(cfg, dequantize(cfg, w), toks)
    json.dump({"logits": logits.tolist(), "tensors": summary}, open(out, "w"))


main()
