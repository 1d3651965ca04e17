"""Chapter 03 reference: timm VisionTransformer forward passes.

Writes
  Tests/Fixtures/ch03-vit-small-weights.safetensors   a small timm ViT's state dict, timm key names
      (image 32, patch 8, width 64, depth 2, heads 4, MLP 256, 10 classes), random weights
  Tests/Fixtures/ch03-vit.safetensors
      small.pixels, small.patch_tokens, small.embedded, small.block{i}, small.attn0 (layer-0
      probabilities), small.normed, small.pooled, small.logits; small_avg.pooled, small_avg.logits (the
      same weights, mean-pooled patch tokens)
      base.pixels (2, 3, 224, 224), base.logits, base.pooled, base.cls_per_block (12, 2, 768):
      vit_base_patch16_224 filled with deterministic weights (regenerated in Swift, not stored)
Run: python Scripts/reference/ch03_vit.py
"""
import os

import numpy as np
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

from common import FIXTURES, REPO, fill_deterministic, save_fixture, seed_everything


def layer0_probs(model, x_embedded):
    blk = model.blocks[0]
    y = blk.norm1(x_embedded)
    B, T, D = y.shape
    H = blk.attn.num_heads
    qkv = blk.attn.qkv(y).reshape(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
    q, k, _ = qkv.unbind(0)
    return ((q @ k.transpose(-2, -1)) * (D // H) ** -0.5).softmax(-1)


def run(model, pixels, prefix, t, every_block=True):
    with torch.no_grad():
        tokens = model.patch_embed(pixels)
        x = model._pos_embed(tokens)
        x = model.norm_pre(x)
        t[f"{prefix}.patch_tokens"] = tokens if every_block else tokens[:0]
        cls = []
        if every_block:
            t[f"{prefix}.embedded"] = x
            t[f"{prefix}.attn0"] = layer0_probs(model, x)
        for i, blk in enumerate(model.blocks):
            x = blk(x)
            if every_block:
                t[f"{prefix}.block{i}"] = x
            cls.append(x[:, 0])
        t[f"{prefix}.cls_per_block"] = torch.stack(cls)
        normed = model.norm(x)
        if every_block:
            t[f"{prefix}.normed"] = normed
        t[f"{prefix}.pooled"] = model.forward_head(normed, pre_logits=True)
        t[f"{prefix}.logits"] = model.forward_head(normed)
        # The whole forward, once more, through timm's own entry point.
        assert torch.allclose(model(pixels), t[f"{prefix}.logits"], atol=1e-5)
    if not every_block:
        del t[f"{prefix}.patch_tokens"]


def main() -> None:
    seed_everything(0)
    t = {}

    small = VisionTransformer(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=64, depth=2,
                              num_heads=4, mlp_ratio=4.0, qkv_bias=True)
    small.eval()
    with torch.no_grad():
        for p in small.parameters():  # make every parameter non-trivial (LN weights ≠ 1, biases ≠ 0)
            p.add_(0.05 * torch.randn_like(p))
    state = {k: v.contiguous() for k, v in small.state_dict().items()}
    path = os.path.join(FIXTURES, "ch03-vit-small-weights.safetensors")
    save_file(state, path, metadata={"format_version": "1", "model": "timm VisionTransformer small test config"})
    print(f"wrote {os.path.relpath(path, REPO)} ({len(state)} tensors)")
    t["small.pixels"] = torch.randn(2, 3, 32, 32)
    run(small, t["small.pixels"], "small", t)

    base = timm.create_model("vit_base_patch16_224", pretrained=False)
    base.eval()
    fill_deterministic(base)
    config = timm.data.resolve_data_config({}, model=base)
    transform = timm.data.create_transform(**config)
    images = [os.path.join(REPO, "Assets", "grace_hopper.jpg"),
              os.path.join(FIXTURES, "images", "landscape_320x240.jpg")]
    t["base.pixels"] = torch.stack([transform(Image.open(p).convert("RGB")) for p in images])
    run(base, t["base.pixels"], "base", t, every_block=False)

    # The small weights again with mean pooling over the patch tokens (the class token left out) and the
    # final norm before the pooling (fc_norm=False), as ViTConfig.pool = .mean reads the feature.
    avg = VisionTransformer(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=64, depth=2,
                            num_heads=4, mlp_ratio=4.0, qkv_bias=True, global_pool="avg", fc_norm=False)
    avg.load_state_dict(state)
    avg.eval()
    with torch.no_grad():
        features = avg.forward_features(t["small.pixels"])
        t["small_avg.pooled"] = avg.forward_head(features, pre_logits=True)
        t["small_avg.logits"] = avg.forward_head(features)
    save_fixture("ch03-vit", t, {"base_model": "vit_base_patch16_224 (deterministic weights)"})


if __name__ == "__main__":
    main()
