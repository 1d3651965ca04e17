"""The Python twin of `clip embed-image --vit W --json PHOTOS…` (Scripts/bench/compare.py times both as
whole processes): timm's eval transform with Pillow, ViT-B/16, eight images per forward, the pooled
class token printed as one JSON line per photo.

    python Scripts/bench/embed_images.py WEIGHTS.safetensors PHOTO.jpg …
"""
import json
import sys

import timm
import torch
from PIL import Image
from safetensors.torch import load_file
from timm.data import create_transform, resolve_data_config


def main(weights, paths):
    model = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    model.load_state_dict(load_file(weights))
    transform = create_transform(**resolve_data_config({}, model=model))
    with torch.no_grad():
        for start in range(0, len(paths), 8):
            batch = paths[start:start + 8]
            pixels = torch.stack([transform(Image.open(p).convert("RGB")) for p in batch])
            pooled = model.forward_head(model.forward_features(pixels), pre_logits=True)
            for path, vector in zip(batch, pooled):
                print(json.dumps({"image": path, "embedding": vector.tolist()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
