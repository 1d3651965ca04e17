"""Shared helpers for the reference scripts: paths, fixture writing and the deterministic weights.

The deterministic generator is implemented identically in Swift
(Sources/Shared/Tensor/DeterministicInit.swift); a full-size model filled from it in PyTorch and in
Swift has bit-identical weights, so a fixture only needs the inputs and outputs.

    key      = FNV-1a-64(name) XOR seed
    state_i  = key + (i + 1) * 0x9E3779B97F4A7C15          (mod 2^64)
    z_i      = SplitMix64 finaliser(state_i)
    u_i      = float32(z_i >> 40) * 2^-24                   in [0, 1)
    value_i  = (u_i * 2 - 1) * scale + offset               (float32 arithmetic, in this order)
"""
import os
import random

import numpy as np
import torch
from safetensors.torch import save_file

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
FORMAT_VERSION = "1"

MASK64 = (1 << 64) - 1


def seed_everything(seed: int = 0) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def deterministic(shape, name: str, scale: float, offset: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Uniform values in [offset - scale, offset + scale), identical to Tensor.deterministic in Swift."""
    n = int(np.prod(shape)) if len(shape) else 1
    key = np.uint64(fnv1a64(name) ^ seed)
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = key + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    v = (u * np.float32(2) - np.float32(1)) * np.float32(scale) + np.float32(offset)
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def save_fixture(name: str, tensors: dict, metadata: dict | None = None) -> str:
    """Writes Tests/Fixtures/<name>.safetensors with a format-version entry and the library versions."""
    import PIL
    import timm

    meta = {
        "format_version": FORMAT_VERSION,
        "torch": torch.__version__,
        "timm": timm.__version__,
        "pillow": PIL.__version__,
        "numpy": np.__version__,
    }
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, name + ".safetensors")
    save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, path, metadata=meta)
    size = os.path.getsize(path)
    print(f"wrote {os.path.relpath(path, REPO)}  ({size / 1e6:.2f} MB, {len(tensors)} tensors)")
    return path


def init_rule(key: str):
    """(scale, offset) for deterministic weights, identical to deterministicInitRule in
    Sources/Shared/IO/Checkpoint.swift: LayerNorm weights 1 ± 0.1, everything else ± 0.02."""
    k = key.lower()
    if k.endswith(".weight") and "norm" in k:
        return 0.1, 1.0
    return 0.02, 0.0


def fill_deterministic(model: torch.nn.Module, seed: int = 0) -> None:
    """Fills every parameter of a model from `deterministic`, named by its state-dict key."""
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            scale, offset = init_rule(key)
            tensor.copy_(deterministic(tuple(tensor.shape), key, scale=scale, offset=offset, seed=seed))
