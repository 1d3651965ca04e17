"""Runs the same workloads with our Swift kernels and with numpy (OpenBLAS) / PyTorch in one run, on
this machine, with the same thread counts, and prints one table with the ratios.

    python Scripts/bench/compare.py            # builds `bench` in release mode first

Needs the reference virtual environment (Scripts/reference/requirements.txt). Thread counts are
pinned with threadpoolctl (numpy/OpenBLAS) and torch.set_num_threads.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHAPES = [
    (197, 2304, 768, "vit qkv 197x768x2304"),
    (197, 3072, 768, "vit fc1 197x768x3072"),
    (197, 768, 3072, "vit fc2 197x3072x768"),
    (6304, 768, 768, "proj 6304x768x768"),
    (2048, 2048, 2048, "square 2048^3"),
]


def time_median(fn, min_seconds=0.5):
    fn()
    times = []
    t0 = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - t0 < min_seconds and len(times) < 200):
        s = time.perf_counter()
        fn()
        times.append(time.perf_counter() - s)
    return statistics.median(times)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    from threadpoolctl import threadpool_info, threadpool_limits
    import torch

    subprocess.run(["swift", "build", "-c", "release", "--product", "bench"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    bench = os.path.join(REPO, ".build", "release", "bench")
    ours = {}
    out = subprocess.run([bench, "gemm", "--threads", "1,2", "--json"], check=True, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        r = json.loads(line)
        ours[(r["workload"], r["threads"])] = r["seconds"]

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"CPU: {cpu_model()}  ·  numpy {np.__version__} "
          f"({blas[0].get('internal_api')} {blas[0].get('version')}, {blas[0].get('architecture')})  ·  torch {torch.__version__}")
    print(f"{'workload':28} {'thr':>3} {'ours ms':>9} {'numpy ms':>9} {'torch ms':>9} {'ours GF/s':>9} "
          f"{'numpy GF/s':>10} {'ours/numpy':>10}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for m, n, k, label in SHAPES:
                a = np.random.default_rng(0).uniform(-1, 1, (m, k)).astype(np.float32)
                b = np.random.default_rng(1).uniform(-1, 1, (n, k)).astype(np.float32)
                t_np = time_median(lambda: a @ b.T)
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                t_torch = time_median(lambda: ta @ tb.T)
                t_ours = ours[("gemm " + label, threads)]
                flop = 2.0 * m * n * k
                print(f"{label:28} {threads:>3} {t_ours * 1e3:9.2f} {t_np * 1e3:9.2f} {t_torch * 1e3:9.2f} "
                      f"{flop / t_ours / 1e9:9.1f} {flop / t_np / 1e9:10.1f} {(flop / t_ours) / (flop / t_np):10.2f}")


if __name__ == "__main__":
    sys.exit(main())
