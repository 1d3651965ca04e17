"""Re-runs every fixture script and checks that it reproduces the committed fixtures.

    ~/venvs/clip-ref/bin/python Scripts/reference/check_fixtures.py            # all scripts
    ~/venvs/clip-ref/bin/python Scripts/reference/check_fixtures.py ch03_vit   # some

Run it before changing a fixture: every file under Tests/Fixtures must come out of its script equal to
what git holds. Equal means: a .safetensors file holds the same tensor names, dtypes, shapes and bytes,
and the same metadata (as a dictionary: the safetensors library writes metadata keys in no fixed
order, so the files' bytes may differ while nothing in them does); any other file, the same bytes.
The scripts write into Tests/Fixtures, so the working tree is left as they made it: `git diff
Tests/Fixtures` shows a drift, `git checkout Tests/Fixtures` undoes it. Exit status 1 on any drift.
"""
import json
import os
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


def differences(path: str, old: bytes, new: bytes) -> list[str]:
    if old == new:
        return []
    if not path.endswith(".safetensors"):
        return ["bytes differ"]
    (old_meta, old_t), (new_meta, new_t) = parse_safetensors(old), parse_safetensors(new)
    out = []
    if old_meta != new_meta:
        out.append(f"metadata {old_meta} → {new_meta}")
    for k in sorted(set(old_t) | set(new_t)):
        if k not in new_t:
            out.append(f"{k}: no longer written")
        elif k not in old_t:
            out.append(f"{k}: new")
        elif old_t[k] != new_t[k]:
            out.append(f"{k}: {'values' if old_t[k][:2] == new_t[k][:2] else 'dtype/shape'} differ")
    return out


def main() -> int:
    chosen = sys.argv[1:] or SCRIPTS
    before = {}
    for root, _, files in os.walk(FIXTURES):
        for f in files:
            before[os.path.join(root, f)] = os.path.getmtime(os.path.join(root, f))
    drift = 0
    for script in chosen:
        start = {p: os.path.getmtime(p) for p in before if os.path.exists(p)}
        result = subprocess.run([sys.executable, script + ".py"], cwd=HERE, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{script}: FAILED\n{result.stderr[-2000:]}")
            drift += 1
            continue
        written = []
        for root, _, files in os.walk(FIXTURES):
            for f in files:
                p = os.path.join(root, f)
                if p not in start or os.path.getmtime(p) != start[p]:
                    written.append(p)
        for p in sorted(written):
            old = committed(p)
            with open(p, "rb") as fh:
                new = fh.read()
            found = ["not in git"] if old is None else differences(p, old, new)
            rel = os.path.relpath(p, REPO)
            if found:
                drift += 1
                print(f"{script}: {rel} DRIFTED: " + "; ".join(found[:8]) + (f" … ({len(found)} in all)" if len(found) > 8 else ""))
            else:
                print(f"{script}: {rel} reproduced")
        if not written:
            print(f"{script}: wrote nothing under Tests/Fixtures")
    print("every fixture reproduced" if drift == 0 else f"{drift} drifted: see git diff Tests/Fixtures")
    return 1 if drift else 0


if __name__ == "__main__":
    sys.exit(main())
