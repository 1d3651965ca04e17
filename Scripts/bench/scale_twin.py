"""The Python twin of `clip index` and `clip search` at scale (Scripts/bench/scale.py times both): what rclip
does, with open_clip and Pillow. rclip's own code (rclip/main.py, rclip/model.py) walks the folder, opens each
photo with Pillow, runs open_clip's eval transform (bicubic resize of the shorter side to 224, centre crop,
CLIP's mean/std), embeds eight photos per forward with ViT-B-32-quickgelu, L2-normalises, and at search time
embeds the sentence, takes dot products with every row and sorts them.

    python Scripts/bench/scale_twin.py index WEIGHTS.safetensors PHOTO_FOLDER OUT.npy
        # writes OUT.npy (N, 512) and OUT.npy.paths (one absolute path per line, the rows' order)
    python Scripts/bench/scale_twin.py search WEIGHTS.safetensors INDEX.npy "a sentence" [-k 10]
        # prints the k best paths, one per line, then "score" lines on stderr

One difference from rclip, on purpose: each photo is converted to RGB first, as `clip` decodes it (and as timm's
loader does). rclip hands Pillow's image to open_clip's transform as it opens, which resizes before it converts:
an RGBA PNG is then resized premultiplied (transparent pixels turn black) and a palette PNG with nearest-neighbour
(Pillow resamples mode P no other way). On a screenshot with a transparent status bar the two orders embed at
cosine 0.97 with random weights, so the twin converts first to do the same work as `clip`.

WEIGHTS is an open_clip ViT-B-32-quickgelu state dict saved as safetensors (the file `clip index --clip`
reads too), so both sides compute the same model.
"""
import os
import re
import sys

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file

PHOTO = re.compile(r"^.+\.(jpg|jpeg|png|webp)$", re.I)  # the formats `clip index` reads
BATCH = 8  # rclip's --indexing-batch-size default


def load(weights):
    model, _, transform = open_clip.create_model_and_transforms("ViT-B-32-quickgelu", pretrained=None)
    model.load_state_dict(load_file(weights))
    return model.eval(), transform


def index(weights, folder, out):
    model, transform = load(weights)
    paths = sorted(os.path.join(root, name) for root, _, names in os.walk(os.path.abspath(folder)) for name in names
                   if PHOTO.match(name))
    rows = []
    with torch.no_grad():
        for start in range(0, len(paths), BATCH):
            pixels = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[start:start + BATCH]])
            rows.append(torch.nn.functional.normalize(model.encode_image(pixels), dim=-1).numpy())
    np.save(out, np.concatenate(rows))
    with open(out + ".paths", "w") as f:
        f.write("\n".join(paths) + "\n")
    print(f"indexed {len(paths)} photos -> {out}")


def search(weights, index_file, sentence, k):
    model, _ = load(weights)
    tokenizer = open_clip.get_tokenizer("ViT-B-32-quickgelu")
    rows = np.load(index_file)
    with open(index_file + ".paths") as f:
        paths = f.read().splitlines()
    with torch.no_grad():
        query = torch.nn.functional.normalize(model.encode_text(tokenizer([sentence])), dim=-1).numpy()[0]
    scores = rows @ query
    best = sorted(zip(scores.tolist(), range(len(paths))), reverse=True)[:k]
    for score, row in best:
        print(paths[row])
        print(f"score {score:.6f}", file=sys.stderr)


if __name__ == "__main__":
    torch.manual_seed(0)
    if sys.argv[1] == "index":
        index(*sys.argv[2:5])
    elif sys.argv[1] == "search":
        k = int(sys.argv[sys.argv.index("-k") + 1]) if "-k" in sys.argv else 10
        search(sys.argv[2], sys.argv[3], sys.argv[4], k)
    else:
        sys.exit(f"unknown command {sys.argv[1]}: index or search")
