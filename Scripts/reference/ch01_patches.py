"""Chapter 01 reference: JPEG decoding, timm's eval transform, and the patch embedding.

Writes
  Tests/Fixtures/images/*.jpg          real JPEGs cut from Assets/grace_hopper.jpg in several sizes,
                                        aspect ratios and encodings (baseline, progressive, grayscale,
                                        4:4:4, 4:2:2, smaller than 224) and one CMYK file
  Tests/Fixtures/ch01-patches.safetensors
      decoded.<img>        U8 (H, W, 3)    Pillow's decode, Image.open(p).convert("RGB")
      resized_size.<img>   I64 (2,)        (width, height) after timm's Resize(248)
      crop.<img>           U8 (224, 224, 3) after Resize(248, bicubic) + CenterCrop(224), as PIL
      pixel_values.<img>   F32 (3, 224, 224) the full timm eval transform (one image; the others are
                                        exactly ToTensor+Normalize of crop.<img>, asserted here)
      conv.input / conv.output         the timm patch embedding at full size with deterministic
                                        weights (weights are regenerated in Swift, not stored)
      small.*                          a small Conv2d(3, 16, 8, stride 8) on a (2, 3, 32, 32) batch,
                                        weights stored
      resize.<i>.spec / .input / .output   Image.resize on noise images: spec I64 (in_w, in_h, out_w,
                                        out_h, filter 0 bicubic / 1 bilinear); input and output U8
                                        (H, W, 3). The cases sit on both sides of Pillow 13's
                                        pass-order rule; the script asserts the rule on each.
      probe                            Tensor.deterministic([16], "probe", seed 7, scale 0.5, offset 0.25)
Run:  python Scripts/reference/ch01_patches.py
"""
import os

import numpy as np
import timm
import torch
from PIL import Image

from common import FIXTURES, REPO, deterministic, save_fixture, seed_everything

MODEL = "vit_base_patch16_224.augreg2_in21k_ft_in1k"


def make_images() -> dict:
    """Cuts the test JPEGs from the bundled photo. Returns name -> path."""
    src = Image.open(os.path.join(REPO, "Assets", "grace_hopper.jpg")).convert("RGB")
    out_dir = os.path.join(FIXTURES, "images")
    os.makedirs(out_dir, exist_ok=True)
    specs = {
        # name: (size, save kwargs, mode)
        "landscape_320x240": ((320, 240), dict(quality=90), "RGB"),
        "portrait_200x300_progressive": ((200, 300), dict(quality=85, progressive=True), "RGB"),
        "square_256_gray": ((256, 256), dict(quality=90), "L"),
        "small_150x100": ((150, 100), dict(quality=95), "RGB"),
        "wide_500x375_444": ((500, 375), dict(quality=92, subsampling=0), "RGB"),
        "odd_333x251_422": ((333, 251), dict(quality=80, subsampling=1), "RGB"),
        "tall_97x301": ((97, 301), dict(quality=75), "RGB"),
        # Either side of Pillow 13's pass-order rule after Resize(248) (see resize_cases below):
        # 300x620 -> 248x512 shrinks the height by 108 > 2 x 52: vertical pass first;
        # 300x600 -> 248x496 shrinks it by 104 = 2 x 52, a tie: horizontal pass first.
        "tall_300x620": ((300, 620), dict(quality=90), "RGB"),
        "tall_300x600": ((300, 600), dict(quality=90), "RGB"),
        "tall_249x700": ((249, 700), dict(quality=88), "RGB"),
    }
    paths = {}
    for name, (size, kwargs, mode) in specs.items():
        # Crop to the target aspect ratio from the centre of the photo, then resize (Lanczos).
        w, h = src.size
        target = size[0] / size[1]
        if w / h > target:
            cw, ch = int(h * target), h
        else:
            cw, ch = w, int(w / target)
        left, top = (w - cw) // 2, (h - ch) // 2
        img = src.crop((left, top, left + cw, top + ch)).resize(size, Image.Resampling.LANCZOS)
        if mode == "L":
            img = img.convert("L")
        path = os.path.join(out_dir, name + ".jpg")
        img.save(path, "JPEG", **kwargs)
        paths[name] = path
    # A CMYK JPEG (Adobe-style, as Photoshop writes them): only for the "unsupported colour space" test.
    src.resize((64, 64), Image.Resampling.LANCZOS).convert("CMYK").save(os.path.join(out_dir, "cmyk_64.jpg"), "JPEG")
    paths["grace_hopper"] = os.path.join(REPO, "Assets", "grace_hopper.jpg")
    return paths


def pillow_runs_vertical_first(in_w: int, in_h: int, out_w: int, out_h: int) -> bool:
    """Pillow 13's ImagingResampleInner: vertical pass first when the height shrinks by more than
    twice as many pixels as the width (ties and upscales: horizontal first)."""
    return (in_h - out_h) > 0 and (in_h - out_h) > 2 * (in_w - out_w)


def resize_cases() -> dict:
    """Noise images resized by Pillow, on both sides of the pass-order boundary (and a random spread).
    Each case also checks the rule: a one-axis resize runs one pass only, so composing two of them
    gives each order's result, and the full resize must equal the order the rule predicts."""
    rng = np.random.default_rng(13)
    specs = [
        (30, 62, 24, 50), (30, 62, 24, 49),  # shrink h by 12 vs 2 x 6: tie -> horizontal; 13 -> vertical
        (40, 90, 31, 71), (40, 90, 31, 72),  # 19 > 18 vertical; 18 = 18 horizontal
        (150, 310, 124, 256), (150, 300, 124, 250),  # the tall photos' proportions, halved: 54 > 52, 50 = 50
        (20, 60, 30, 20),  # widen while shrinking height: 40 > -20, vertical first
        (60, 20, 20, 30),  # shrink width, grow height: horizontal first
        (64, 64, 17, 17), (17, 40, 40, 17), (50, 51, 49, 48), (7, 90, 3, 11), (90, 7, 11, 3),
    ]
    while len(specs) < 48:
        in_w, in_h = int(rng.integers(2, 48)), int(rng.integers(2, 48))
        out_w, out_h = int(rng.integers(1, 48)), int(rng.integers(1, 48))
        specs.append((in_w, in_h, out_w, out_h))
    filters = [(0, Image.Resampling.BICUBIC), (1, Image.Resampling.BILINEAR)]
    tensors, distinguished = {}, 0
    for i, (in_w, in_h, out_w, out_h) in enumerate(specs):
        code, filt = filters[i % 7 == 3]
        pixels = rng.integers(0, 256, size=(in_h, in_w, 3), dtype=np.uint8)
        img = Image.fromarray(pixels, "RGB")
        out = img.resize((out_w, out_h), filt)
        horizontal_first = img.resize((out_w, in_h), filt).resize((out_w, out_h), filt)
        vertical_first = img.resize((in_w, out_h), filt).resize((out_w, out_h), filt)
        predicted = vertical_first if pillow_runs_vertical_first(in_w, in_h, out_w, out_h) else horizontal_first
        assert np.array_equal(np.asarray(out), np.asarray(predicted)), (in_w, in_h, out_w, out_h)
        distinguished += not np.array_equal(np.asarray(horizontal_first), np.asarray(vertical_first))
        tensors[f"resize.{i}.spec"] = torch.tensor([in_w, in_h, out_w, out_h, code], dtype=torch.int64)
        tensors[f"resize.{i}.input"] = torch.from_numpy(pixels.copy())
        tensors[f"resize.{i}.output"] = torch.from_numpy(np.asarray(out).copy())
    print(f"resize: {len(specs)} cases, the pass-order rule held on all; the two orders differ on {distinguished}")
    return tensors


def main() -> None:
    seed_everything(0)
    tensors = {}
    paths = make_images()

    model = timm.create_model(MODEL, pretrained=False)
    config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**config)
    print("timm eval transform for", MODEL)
    print(transform)
    resize, crop, to_tensor, normalize = transform.transforms
    assert type(resize).__name__ == "Resize" and resize.size == 248, resize
    assert type(crop).__name__ == "CenterCrop", crop

    for name, path in sorted(paths.items()):
        pil = Image.open(path).convert("RGB")
        if name != "grace_hopper" and not name.startswith("tall_2") and not name.startswith("tall_3"):
            # (the large tall photos are held to Pillow through their crops only, to keep this file small)
            tensors[f"decoded.{name}"] = torch.from_numpy(np.asarray(pil).copy())
        resized = resize(pil)
        tensors[f"resized_size.{name}"] = torch.tensor(resized.size, dtype=torch.int64)
        cropped = crop(resized)
        tensors[f"crop.{name}"] = torch.from_numpy(np.asarray(cropped).copy())
        full = transform(pil)
        again = normalize(to_tensor(cropped))
        assert torch.equal(full, again), name
        if name == "grace_hopper":
            tensors[f"pixel_values.{name}"] = full

    # Full-size patch embedding with deterministic weights (same recipe in Swift).
    conv = model.patch_embed.proj
    with torch.no_grad():
        conv.weight.copy_(deterministic(conv.weight.shape, "patch_embed.proj.weight", scale=0.02))
        conv.bias.copy_(deterministic(conv.bias.shape, "patch_embed.proj.bias", scale=0.02))
        x = tensors["pixel_values.grace_hopper"].unsqueeze(0)
        tokens = model.patch_embed(x)  # (1, 196, 768): conv, flatten(2), transpose(1, 2)
    tensors["conv.output"] = tokens

    # A small batched convolution with stored weights.
    small = torch.nn.Conv2d(3, 16, kernel_size=8, stride=8)
    xs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ys = small(xs).flatten(2).transpose(1, 2)
    tensors["small.input"] = xs
    tensors["small.weight"] = small.weight.detach()
    tensors["small.bias"] = small.bias.detach()
    tensors["small.output"] = ys

    tensors.update(resize_cases())
    tensors["probe"] = deterministic([16], "probe", scale=0.5, offset=0.25, seed=7)
    save_fixture("ch01-patches", tensors, {"model": MODEL, "transform": str(transform).replace("\n", " ")})


if __name__ == "__main__":
    main()
