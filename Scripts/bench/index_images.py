"""The Python twin of `clip index FOLDER --clip HF_FOLDER --out INDEX` (Scripts/bench/compare.py times both):
every JPEG under FOLDER through open_clip's eval transform (Pillow: bicubic resize of the shorter side to
224, centre crop, CLIP's mean/std) and Hugging Face's CLIPModel image features, eight photos per forward,
L2-normalised, written as one .npy of embeddings beside a list of paths.

    python Scripts/bench/index_images.py HF_CLIP_FOLDER PHOTO_FOLDER OUT.npy
"""
import os
import sys

import numpy as np
import open_clip
import torch
from PIL import Image
from transformers import CLIPModel


def main(model_dir, folder, out):
    model = CLIPModel.from_pretrained(model_dir).eval()
    transform = open_clip.image_transform(224, is_train=False)
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(folder) for name in names
                   if name.lower().endswith((".jpg", ".jpeg")))
    rows = []
    with torch.no_grad():
        for start in range(0, len(paths), 8):
            pixels = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[start:start + 8]])
            features = model.get_image_features(pixel_values=pixels)
            if not torch.is_tensor(features):  # transformers 5 returns the projected features as pooler_output
                features = features.pooler_output
            rows.append(torch.nn.functional.normalize(features, dim=-1).numpy())
    np.save(out, np.concatenate(rows))
    with open(out + ".paths", "w") as f:
        f.write("\n".join(paths) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
