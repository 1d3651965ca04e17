"""Writes Assets/imagenet-classes.txt: the 1000 ImageNet-1k class names in model output order, one per
line (the first lemma of each synset), from the label files timm ships (Apache-2.0).
Run: python Scripts/reference/make_imagenet_classes.py
"""
import os

from timm.data import ImageNetInfo

from common import REPO

info = ImageNetInfo()
names = [info.index_to_description(i).split(",")[0].strip() for i in range(1000)]
path = os.path.join(REPO, "Assets", "imagenet-classes.txt")
with open(path, "w") as f:
    f.write("\n".join(names) + "\n")
print(f"wrote {path}: {len(names)} names, e.g. {names[:3]}")
