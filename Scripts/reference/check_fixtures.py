"""Re-runs every fixture script and checks that it reproduces the committed fixtures.

    ~/venvs/clip-ref/bin/python Scripts/reference/check_fixtures.py            # all scripts
    ~/venvs/clip-ref/bin/python Scripts/reference/check_fixtures.py ch03_vit   # some

Run it before changing a fixture: every file under Tests/Fixtures must come out of its script equal to
what git holds. Equal means: a .safetensors file holds the same tensor names, dtypes, shapes and bytes,
and the same metadata (as a dictionary: the safetensors library writes metadata keys in no fixed
order, so the files' bytes may differ while nothing in them does); any other file, the same bytes.

Tensors a script computes with torch's CPU kernels (a convolution, a matmul, a backward) differ in their
last bits between CPUs — torch picks its kernels by instruction set — so byte-for-byte holds only on
the machine that made them. Such tensors pass as "reproduced to rounding" when every value is within
1e-5 of the largest |value| of the tensor, or within 1e-5 absolute (the tests' own tolerances). Key
biases are float noise by construction — their gradient is zero in exact arithmetic (softmax ignores a
constant shift), so a gradient of 1e-9 can come out 2e-9 — and Adam turns that noise into steps of ±lr:
their gradients pass within 1e-6 absolute, their trajectories (`after<N>.`) within 2·lr·N (lr 1e-4, the
image tower's), the bound TrainingTests holds them to. Inputs and weights come from seeded generators
and must be exact; anything else off by more is a drift.
The scripts write into Tests/Fixtures, so the working tree is left as they made it: `git diff
Tests/Fixtures` shows a drift, `git checkout Tests/Fixtures` undoes it. Exit status 1 on any drift.
    --compare   compare the working tree with git without running the scripts
"""
import json
import os
import re

import numpy as np
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
# In dependency order: ch11_finetune reads what ch11_openai_clip writes.
SCRIPTS = ["ch01_patches", "ch02_attention", "ch03_vit", "ch04_tokenizer", "ch05_bert", "ch06_projection",
           "ch07_contrastive_loss", "ch08_training", "ch09_zero_shot", "ch11_tokenizer", "ch11_openai_clip", "ch11_finetune"]


def committed(path: str) -> bytes | None:
    rel = os.path.relpath(path, REPO)
    try:
        return subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=REPO, check=True, capture_output=True).stdout
    except subprocess.CalledProcessError:
        return None


def parse_safetensors(data: bytes):
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {k: (v["dtype"], tuple(v["shape"]), body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
    return meta, tensors


ROUNDING = 1e-5
KEY_BIAS = re.compile(r"(key|k_proj)\.bias$|qkv\.bias$")
STEPS = re.compile(r"^after(\d+)\.")
DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def differences(path: str, old: bytes, new: bytes) -> tuple[list[str], list[str]]:
    """(drifts, rounding notes) between two versions of one file."""
    if old == new:
        return [], []
    if not path.endswith(".safetensors"):
        return ["bytes differ"], []
    (old_meta, old_t), (new_meta, new_t) = parse_safetensors(old), parse_safetensors(new)
    drifts, rounding = [], []
    if old_meta != new_meta:
        drifts.append(f"metadata {old_meta} → {new_meta}")
    for k in sorted(set(old_t) | set(new_t)):
        if k not in new_t:
            drifts.append(f"{k}: no longer written")
        elif k not in old_t:
            drifts.append(f"{k}: new")
        elif old_t[k][:2] != new_t[k][:2]:
            drifts.append(f"{k}: dtype/shape {old_t[k][:2]} → {new_t[k][:2]}")
        elif old_t[k][2] != new_t[k][2]:
            dtype = DTYPES.get(old_t[k][0])
            if dtype is None or not np.issubdtype(dtype, np.floating):
                drifts.append(f"{k}: values differ")
                continue
            a = np.frombuffer(old_t[k][2], dtype=dtype).astype(np.float64)
            b = np.frombuffer(new_t[k][2], dtype=dtype).astype(np.float64)
            scale = max(np.abs(a).max(), 1e-30)
            absolute = np.abs(a - b).max()
            err = absolute / scale
            if err <= ROUNDING or absolute <= ROUNDING:
                rounding.append(f"{k}: max |Δ| {err:.1e} of max |value|")
            elif KEY_BIAS.search(k) and absolute <= (2e-4 * int(STEPS.match(k).group(1)) if STEPS.match(k) else 1e-6):
                rounding.append(f"{k}: max |Δ| {err:.1e} of max |value| (a key bias: float noise by construction, |Δ| {absolute:.1e} within its bound)")
            else:
                drifts.append(f"{k}: max |Δ| {err:.1e} of max |value| ({absolute:.1e} absolute)")
    return drifts, rounding


def check(path: str, script: str) -> bool:
    old = committed(path)
    with open(path, "rb") as fh:
        new = fh.read()
    rel = os.path.relpath(path, REPO)
    if old is None:
        print(f"{script}: {rel} DRIFTED: not in git")
        return False
    drifts, rounding = differences(path, old, new)
    if drifts:
        print(f"{script}: {rel} DRIFTED: " + "; ".join(drifts[:6]) + (f" … ({len(drifts)} in all)" if len(drifts) > 6 else ""))
    elif rounding:
        worst = max(rounding, key=lambda r: float(r.split("|Δ| ")[1].split(" ")[0]))
        print(f"{script}: {rel} reproduced to rounding ({len(rounding)} computed tensors differ in their last bits; worst {worst})")
    else:
        print(f"{script}: {rel} reproduced byte for byte" if old == new else f"{script}: {rel} reproduced (same tensors and metadata)")
    return not drifts


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--compare" in sys.argv:
        changed = subprocess.run(["git", "status", "--porcelain", "--", "Tests/Fixtures"], cwd=REPO, capture_output=True, text=True).stdout
        paths = [os.path.join(REPO, line[3:]) for line in changed.splitlines() if line[3:].strip()]
        drift = sum(not check(p, "compare") for p in paths if os.path.isfile(p))
        print("nothing differs from git" if not paths else ("every fixture reproduced" if drift == 0 else f"{drift} drifted"))
        return 1 if drift else 0
    chosen = args or SCRIPTS
    files = lambda: {os.path.join(r, f): os.path.getmtime(os.path.join(r, f)) for r, _, fs in os.walk(FIXTURES) for f in fs}
    drift = 0
    for script in chosen:
        start = files()
        result = subprocess.run([sys.executable, script + ".py"], cwd=HERE, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{script}: FAILED\n{result.stderr[-2000:]}")
            drift += 1
            continue
        written = sorted(p for p, t in files().items() if start.get(p) != t)
        if not written:
            print(f"{script}: wrote nothing under Tests/Fixtures")
        drift += sum(not check(p, script) for p in written)
    print("every fixture reproduced" if drift == 0 else f"{drift} drifted: see git diff Tests/Fixtures")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
