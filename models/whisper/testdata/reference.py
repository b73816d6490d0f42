"""Whisper's audio encoder in PyTorch, written from openai/whisper (audio.py, model.py) and
librosa's mel filterbank, independently of qzoo: the reference models/whisper's test holds the Go
encoder to.

usage: reference.py MODEL.safetensors HEADS BATCH SAMPLES WAVE.f32 OUT.f32
WAVE.f32 holds BATCH×SAMPLES little-endian float32 samples at 16 kHz; OUT.f32 receives the
features [BATCH, T, D] as little-endian float32, and the script prints T and D.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        s, t = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[s:t], "<f4").reshape(e["shape"]).copy())
    return out


def hz_to_mel(f):  # librosa, htk=False (Slaney)
    f = np.asanyarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(sr, n_fft, n_mels):  # librosa.filters.mel(sr, n_fft, n_mels), norm="slaney"
    fftfreqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def log_mel_spectrogram(audio, n_mels):  # whisper/audio.py, the maximum taken per example
    stft = torch.stft(audio, 400, 160, window=torch.hann_window(400), return_complex=True)  # centred, reflect
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = mel_filters(16000, 400, n_mels) @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0)
    return (log_spec + 4.0) / 4.0


def encoder(w, mel, heads):  # whisper/model.py AudioEncoder, Hugging Face's names
    p = "model.encoder."
    x = F.gelu(F.conv1d(mel, w[p + "conv1.weight"], w[p + "conv1.bias"], padding=1))
    x = F.gelu(F.conv1d(x, w[p + "conv2.weight"], w[p + "conv2.bias"], stride=2, padding=1))
    x = x.permute(0, 2, 1)
    b, t, d = x.shape
    x = x + w[p + "embed_positions.weight"][:t]
    hd = d // heads
    i = 0
    while p + "layers.%d.fc1.weight" % i in w:
        lp = p + "layers.%d." % i
        ln = lambda h, n: F.layer_norm(h, (d,), w[lp + n + ".weight"], w[lp + n + ".bias"], 1e-5)
        h = ln(x, "self_attn_layer_norm")
        q = F.linear(h, w[lp + "self_attn.q_proj.weight"], w[lp + "self_attn.q_proj.bias"])
        k = F.linear(h, w[lp + "self_attn.k_proj.weight"])
        v = F.linear(h, w[lp + "self_attn.v_proj.weight"], w[lp + "self_attn.v_proj.bias"])
        q, k, v = (z.view(b, t, heads, hd).transpose(1, 2) for z in (q, k, v))
        a = torch.softmax((q * hd ** -0.5) @ k.transpose(-1, -2), dim=-1) @ v
        a = a.transpose(1, 2).reshape(b, t, d)
        x = x + F.linear(a, w[lp + "self_attn.out_proj.weight"], w[lp + "self_attn.out_proj.bias"])
        h = ln(x, "final_layer_norm")
        h = F.linear(F.gelu(F.linear(h, w[lp + "fc1.weight"], w[lp + "fc1.bias"])), w[lp + "fc2.weight"], w[lp + "fc2.bias"])
        x = x + h
        i += 1
    return F.layer_norm(x, (d,), w[p + "layer_norm.weight"], w[p + "layer_norm.bias"], 1e-5)


def main():
    path, heads, batch, samples, wave, out = sys.argv[1:]
    heads, batch, samples = int(heads), int(batch), int(samples)
    w = load_safetensors(path)
    audio = torch.from_numpy(np.fromfile(wave, "<f4").reshape(batch, samples).copy())
    n_mels = w["model.encoder.conv1.weight"].shape[1]
    with torch.no_grad():
        feats = encoder(w, log_mel_spectrogram(audio, n_mels), heads)
    feats.numpy().astype("<f4").tofile(out)
    print(feats.shape[1], feats.shape[2])


if __name__ == "__main__":
    main()
