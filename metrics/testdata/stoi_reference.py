# The reference for metrics.STOI's test: pystoi's stoi() (github.com/mpariente/pystoi, MIT
# licence; itself a port of Taal's stoi.m), transcribed with numpy alone, non-extended, for
# signals already at 10 kHz (pystoi's MATLAB-style resampling is left out, so that only the
# algorithm is compared). Usage: python3 stoi_reference.py PAIR.f32 ...; each file holds the
# clean and the processed signal, float32 little-endian, one after the other; prints one STOI
# per file.
import sys

import numpy as np
EPS = np.finfo("float").eps
FS, N_FRAME, NFFT, NUMBAND, MINFREQ, N, BETA, DYN_RANGE = 10000, 256, 512, 15, 150, 30, -15., 40

def thirdoct(fs, nfft, num_bands, min_freq):
    f = np.linspace(0, fs, nfft + 1)[:int(nfft/2) + 1]
    k = np.array(range(num_bands)).astype(float)
    cf = np.power(2. ** (1. / 3), k) * min_freq
    freq_low = min_freq * np.power(2., (2 * k - 1) / 6)
    freq_high = min_freq * np.power(2., (2 * k + 1) / 6)
    obm = np.zeros((num_bands, len(f)))
    for i in range(len(cf)):
        l_ind = np.argmin(np.square(f - freq_low[i]))
        h_ind = np.argmin(np.square(f - freq_high[i]))
        obm[i, l_ind:h_ind] = 1
    return obm, cf

def stft(x, win_size, fft_size, overlap=4):
    hop = int(win_size / overlap)
    w = np.hanning(win_size + 2)[1:-1]
    return np.array([np.fft.rfft(w * x[i:i + win_size], n=fft_size) for i in range(0, len(x) - win_size, hop)])

def remove_silent_frames(x, y, dyn_range, framelen, hop):
    w = np.hanning(framelen + 2)[1:-1]
    x_frames = np.array([w * x[i:i + framelen] for i in range(0, len(x) - framelen, hop)])
    y_frames = np.array([w * y[i:i + framelen] for i in range(0, len(x) - framelen, hop)])
    x_energies = 20 * np.log10(np.linalg.norm(x_frames, axis=1) + EPS)
    mask = (np.max(x_energies) - dyn_range - x_energies) < 0
    x_frames = x_frames[mask]; y_frames = y_frames[mask]
    n_sil = (len(x_frames) - 1) * hop + framelen
    x_sil = np.zeros(n_sil); y_sil = np.zeros(n_sil)
    for i in range(x_frames.shape[0]):
        x_sil[range(i * hop, i * hop + framelen)] += x_frames[i, :]
        y_sil[range(i * hop, i * hop + framelen)] += y_frames[i, :]
    return x_sil, y_sil

def stoi(x, y):
    OBM, CF = thirdoct(FS, NFFT, NUMBAND, MINFREQ)
    x, y = remove_silent_frames(x, y, DYN_RANGE, N_FRAME, int(N_FRAME/2))
    x_spec = stft(x, N_FRAME, NFFT, overlap=2).transpose()
    y_spec = stft(y, N_FRAME, NFFT, overlap=2).transpose()
    x_tob = np.sqrt(np.matmul(OBM, np.square(np.abs(x_spec))))
    y_tob = np.sqrt(np.matmul(OBM, np.square(np.abs(y_spec))))
    x_segments = np.array([x_tob[:, m - N:m] for m in range(N, x_tob.shape[1] + 1)])
    y_segments = np.array([y_tob[:, m - N:m] for m in range(N, x_tob.shape[1] + 1)])
    nc = np.linalg.norm(x_segments, axis=2, keepdims=True) / (np.linalg.norm(y_segments, axis=2, keepdims=True) + EPS)
    y_n = y_segments * nc
    clip_value = 10 ** (-BETA / 20)
    y_primes = np.minimum(y_n, x_segments * (1 + clip_value))
    y_primes = y_primes - np.mean(y_primes, axis=2, keepdims=True)
    x_segments = x_segments - np.mean(x_segments, axis=2, keepdims=True)
    y_primes /= (np.linalg.norm(y_primes, axis=2, keepdims=True) + EPS)
    x_segments /= (np.linalg.norm(x_segments, axis=2, keepdims=True) + EPS)
    return np.sum(y_primes * x_segments) / (x_segments.shape[0] * x_segments.shape[1])

for path in sys.argv[1:]:
    d = np.fromfile(path, dtype=np.float32).reshape(2, -1)
    print("%.9f" % stoi(d[0].astype(np.float64), d[1].astype(np.float64)))
