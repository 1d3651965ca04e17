"""Runs the same workloads with our Swift code and with numpy (OpenBLAS) / PyTorch in one run, on this
machine, with the same thread counts, and prints one table with the ratios.

    python Scripts/bench/compare.py [gemm] [vit]      # builds `bench` in release mode first

Needs the reference virtual environment (Scripts/reference/requirements.txt). Thread counts are pinned
with threadpoolctl (numpy/OpenBLAS) and torch.set_num_threads. Ratios are ours/theirs in time (lower
is better for us); GFLOP/s counts only the matrix products.
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
GEMM_SHAPES = [
    (197, 2304, 768, "gemm vit qkv 197x768x2304"),
    (197, 3072, 768, "gemm vit fc1 197x768x3072"),
    (197, 768, 3072, "gemm vit fc2 197x3072x768"),
    (6304, 768, 768, "gemm proj 6304x768x768"),
    (2048, 2048, 2048, "gemm square 2048^3"),
]


def time_median(fn, min_seconds=0.5, min_runs=3):
    fn()
    times = []
    t0 = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - t0 < min_seconds and len(times) < 200):
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


def ours(workload, extra=()):
    bench = os.path.join(REPO, ".build", "release", "bench")
    out = subprocess.run([bench, workload, "--threads", "1,2", "--json", *extra], check=True, capture_output=True, text=True)
    return {(r["workload"], r["threads"]): r for r in map(json.loads, out.stdout.splitlines())}


def row(name, threads, t_ours, t_ref, ref_name, gflop=None):
    rate = f"{gflop / t_ours:9.1f}" if gflop else f"{'':9}"
    print(f"{name:30} {threads:>3} {t_ours * 1e3:10.2f} {t_ref * 1e3:10.2f} {ref_name:>8} {t_ours / t_ref:7.2f}x {rate}")


def main(workloads):
    from threadpoolctl import threadpool_info, threadpool_limits
    import torch

    subprocess.run(["swift", "build", "-c", "release", "--product", "bench"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    print(f"CPU: {cpu_model()}  ·  numpy {np.__version__} ({blas[0].get('internal_api')} {blas[0].get('version')}, "
          f"{blas[0].get('architecture')})  ·  torch {torch.__version__}")
    print(f"{'workload':30} {'thr':>3} {'ours ms':>10} {'ref ms':>10} {'ref':>8} {'ratio':>8} {'GFLOP/s':>9}")
    if "gemm" in workloads:
        mine = ours("gemm")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with threadpool_limits(limits=threads, user_api="blas"):
                for m, n, k, label in GEMM_SHAPES:
                    a = np.random.default_rng(0).uniform(-1, 1, (m, k)).astype(np.float32)
                    b = np.random.default_rng(1).uniform(-1, 1, (n, k)).astype(np.float32)
                    t_np = time_median(lambda: a @ b.T)
                    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                    t_torch = time_median(lambda: ta @ tb.T)
                    t = mine[(label, threads)]["seconds"]
                    row(label, threads, t, t_np, "numpy", 2e-9 * m * n * k)
                    row(label, threads, t, t_torch, "torch", 2e-9 * m * n * k)
    if "vit" in workloads:
        import timm
        mine = ours("vit", ["--batch", "1,8"])
        model = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch in (1, 8):
                x = torch.randn(batch, 3, 224, 224)
                with torch.no_grad():
                    t_torch = time_median(lambda: model(x))
                name = f"vit-b/16 forward batch {batch}"
                r = mine[(name, threads)]
                row(name, threads, r["seconds"], t_torch, "torch", r["gflops"] * r["seconds"])

    if "minilm" in workloads or "bert" in workloads:
        from transformers import BertConfig, BertModel

        words = ["a", "dog", "runs", "across", "the", "green", "grass", "while", "two", "children", "play", "in", "snow"]
        sentences = [" ".join(words[(i + j * 7) % len(words)] for j in range(30)) for i in range(32)]
        for name in [w for w in ("minilm", "bert") if w in workloads]:
            mine = ours(name)
            if name == "minilm":
                from sentence_transformers import SentenceTransformer
                from sentence_transformers.sentence_transformer import modules

                directory = os.environ.get("CLIP_MINILM_DIR", os.path.expanduser("~/.cache/clip-swift/all-MiniLM-L6-v2"))
                word = modules.Transformer(directory, max_seq_length=256)
                st = SentenceTransformer(modules=[word, modules.Pooling(word.get_embedding_dimension(), "mean"), modules.Normalize()])
                run = lambda: st.encode(sentences, batch_size=32, normalize_embeddings=True)
                ref = "s-t"
            else:
                model = BertModel(BertConfig(), add_pooling_layer=False).eval()
                ids = torch.randint(1000, 2000, (32, 32))

                def run():
                    with torch.no_grad():
                        return model(input_ids=ids).last_hidden_state.mean(1)
                ref = "torch"
            for threads in (1, 2):
                torch.set_num_threads(threads)
                t_ref = time_median(run)
                r = mine[(f"{name} forward 32x32", threads)]
                row(f"{name} forward 32x32", threads, r["seconds"], t_ref, ref, r["gflops"] * r["seconds"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["gemm", "vit", "minilm", "bert"]))
