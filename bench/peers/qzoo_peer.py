"""Shared helper of qzoo's Python peers (bench/peers/*.py), which the bench command runs from a
temporary directory holding every file of bench/peers (package bench/harness).

A peer prints ONE JSON line with emit(): its measurements, merged over environment() (the
framework, its version, threads, the BLAS it loaded and the inherited variables that change
its speed), which the Go side parses (harness.ParsePeerJSON) and keeps in the report. Timing
helpers: step_times() for the median of timed steps after untimed ones, time_calls() for the
fastest of repeated calls.
"""

import json
import os
import resource
import statistics
import time

import torch

# Inherited variables recorded with every result (as harness.PeerEnvKeys): the bench passes the
# environment on as it is, unless a benchmark documents a change.
ENV_KEYS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")


def blas_info():
    """The BLAS shared libraries this process actually loaded (from /proc/self/maps), for the
    record: Debian's libblas.so.3 alternative may point at OpenBLAS's pthread or OpenMP build."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in os.path.basename(path):
                    libs.add(os.path.realpath(path))
    except OSError:
        return ""
    return " ".join(sorted(libs))


def environment():
    """The fields every peer's JSON line starts with."""
    return {
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_info(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }


def emit(result):
    """Prints environment() updated with result as one JSON line on standard output."""
    line = environment()
    line.update(result)
    print(json.dumps(line), flush=True)


def step_times(prepare, step, warmup, steps):
    """Runs warmup + steps steps: for each i, prepare(i) untimed (cutting the batch, as the Go
    loop fetches its batch before its step timer starts), then step(prepare's result) timed.
    The first warmup steps are untimed (allocation, first-call costs). Returns the values step
    returned in the timed steps and {"median_step_seconds", "mean_step_seconds"} of their
    durations."""
    durations, values = [], []
    for i in range(warmup + steps):
        x = prepare(i)
        t0 = time.perf_counter()
        v = step(x)
        elapsed = time.perf_counter() - t0
        if i >= warmup:
            durations.append(elapsed)
            values.append(v)
    return values, {"median_step_seconds": statistics.median(durations), "mean_step_seconds": statistics.fmean(durations)}


def minor_faults():
    """The process's minor page faults so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_calls(fn, min_time):
    """Calls fn until min_time seconds have passed (at least once); returns the fastest call's
    seconds, the minor page faults per call, the number of calls and fn's last result."""
    calls, faults, start, fastest = 0, minor_faults(), time.perf_counter(), float("inf")
    while True:
        t0 = time.perf_counter()
        out = fn()
        end = time.perf_counter()
        fastest = min(fastest, end - t0)
        calls += 1
        if end - start >= min_time:
            return fastest, (minor_faults() - faults) / calls, calls, out
