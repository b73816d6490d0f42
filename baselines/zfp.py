"""Fixed-accuracy ZFP (Lindstrom 2014) for qzoo's baselines package, via Debian's python3-zfpy.

Usage: zfp.py MODE D0,D1,... TOL1,TOL2,...   with the float32 array, little-endian, row-major,
on stdin. MODE "whole" compresses the array as one array of its rank (1 to 4 dimensions);
"slices" compresses each 2-D slice over the last two axes on its own.

For each tolerance, stdout gets one JSON line {"tolerance", "bytes", "encode_s", "decode_s"}
followed by the reconstruction as raw little-endian float32 (as many values as the input).
"bytes" is the whole zfpy stream, its header (shape, type, mode) included. Exit status 3 means
zfpy or numpy cannot be imported.
"""
import json
import sys
import time

try:
    import numpy as np
    import zfpy
except ImportError as e:
    print(f"cannot import zfpy/numpy: {e}", file=sys.stderr)
    sys.exit(3)


def main():
    mode, dims, tols = sys.argv[1], sys.argv[2], sys.argv[3]
    shape = tuple(int(d) for d in dims.split(","))
    tolerances = [float(t) for t in tols.split(",")]
    raw = sys.stdin.buffer.read()
    x = np.frombuffer(raw, dtype="<f4")
    if x.size != int(np.prod(shape)):
        sys.exit(f"zfp.py: {x.size} values on stdin for shape {shape}")
    x = np.ascontiguousarray(x.reshape(shape))
    parts = [x] if mode == "whole" else list(x.reshape((-1,) + shape[-2:]))
    out = sys.stdout.buffer
    for tol in tolerances:
        size, t_enc, t_dec, recon = 0, 0.0, 0.0, []
        for part in parts:
            t0 = time.perf_counter()
            stream = zfpy.compress_numpy(part, tolerance=tol)
            t1 = time.perf_counter()
            r = zfpy.decompress_numpy(stream)
            t2 = time.perf_counter()
            size += len(stream)
            t_enc += t1 - t0
            t_dec += t2 - t1
            recon.append(r)
        y = np.concatenate([r.reshape(-1) for r in recon]).astype("<f4")
        head = {"tolerance": tol, "bytes": size, "encode_s": t_enc, "decode_s": t_dec}
        out.write((json.dumps(head) + "\n").encode())
        out.write(y.tobytes())
    out.flush()


main()
