"""Chapter 01 reference for PNG and WebP decoding (issue 31): PNG and WebP files of every kind a photo folder holds, and
the RGB pixels each must decode to.

Writes
  Tests/Fixtures/images/png/<name>.png   cut from Assets/grace_hopper.jpg (64×48 crops) in every colour type
                                         and bit depth: grey 1/8/16-bit, RGB 8/16-bit, RGBA, grey +
                                         alpha, palette (with and without transparency), Adam7-interlaced
  Tests/Fixtures/images/png/<name>.webp  the same crop as lossy, lossless and lossy-with-alpha WebP (Pillow's libwebp)
  Tests/Fixtures/ch01-png.safetensors
      webp.<name>  U8 (H, W, 3)   Pillow's convert("RGB") of each WebP (alpha dropped)
      rgb.<name>   U8 (H, W, 3)   Pillow's Image.open(p).convert("RGB") — alpha and transparency dropped,
                                  not composited — except the 16-bit files, where Pillow clips (grey, I;16)
                                  or keeps the high byte (RGB): there the expected value is round(v / 257)
                                  of the stored 16-bit sample, computed here from the file's own samples
Run:  python Scripts/reference/ch01_png.py
"""
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image

from common import FIXTURES, REPO, save_fixture

OUT = os.path.join(FIXTURES, "images", "png")


def write_png(path, array, colour_type, bit_depth, interlace=0):
    """A PNG written byte by byte (Pillow cannot write 16-bit RGB or an interlaced file): filter 0 rows."""
    h, w = array.shape[:2]

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    def rows_of(a):
        if bit_depth == 16:
            return [b"\x00" + a[y].astype(">u2").tobytes() for y in range(a.shape[0])]
        return [b"\x00" + a[y].astype(np.uint8).tobytes() for y in range(a.shape[0])]

    if interlace:  # Adam7: seven passes of sub-images, each filtered row by row
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        raw = b""
        for x0, y0, dx, dy in passes:
            sub = array[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += b"".join(rows_of(sub))
    else:
        raw = b"".join(rows_of(array))
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, interlace)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    photo = Image.open(os.path.join(REPO, "Assets", "grace_hopper.jpg")).convert("RGB")
    rgb = np.asarray(photo.crop((200, 150, 264, 198)))  # (48, 64, 3)
    grey = np.asarray(photo.convert("L").crop((200, 150, 264, 198)))
    rng = np.random.default_rng(31)
    alpha = rng.integers(0, 256, size=grey.shape, dtype=np.uint8)
    files = {}
    # Pillow writes the 8-bit kinds.
    Image.fromarray(rgb).save(os.path.join(OUT, "rgb8.png")); files["rgb8"] = None
    Image.fromarray(grey).save(os.path.join(OUT, "grey8.png")); files["grey8"] = None
    Image.fromarray(np.dstack([rgb, alpha])).save(os.path.join(OUT, "rgba8.png")); files["rgba8"] = None
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(os.path.join(OUT, "greyalpha8.png")); files["greyalpha8"] = None
    Image.fromarray(grey > 128).save(os.path.join(OUT, "grey1.png")); files["grey1"] = None
    palette = photo.crop((200, 150, 264, 198)).quantize(colors=16)
    palette.save(os.path.join(OUT, "palette.png")); files["palette"] = None
    palette.info["transparency"] = 3
    palette.save(os.path.join(OUT, "palette-transparent.png"), transparency=3); files["palette-transparent"] = None
    # Written by hand: 16-bit grey and RGB, interlaced RGB.
    grey16 = grey.astype(np.uint32) * 257 + rng.integers(0, 257, size=grey.shape)
    grey16 = np.minimum(grey16, 65535).astype(np.uint16)
    rgb16 = np.minimum(rgb.astype(np.uint32) * 257 + rng.integers(0, 257, size=rgb.shape), 65535).astype(np.uint16)
    write_png(os.path.join(OUT, "grey16.png"), grey16, 0, 16); files["grey16"] = grey16
    write_png(os.path.join(OUT, "rgb16.png"), rgb16, 2, 16); files["rgb16"] = rgb16
    write_png(os.path.join(OUT, "rgb8-interlaced.png"), rgb, 2, 8, interlace=1); files["rgb8-interlaced"] = None
    # WebP, written by Pillow's libwebp: lossy, lossless, and lossy with alpha.
    webp = {}
    Image.fromarray(rgb).save(os.path.join(OUT, "lossy.webp"), quality=80); webp["lossy"] = None
    Image.fromarray(rgb).save(os.path.join(OUT, "lossless.webp"), lossless=True); webp["lossless"] = None
    Image.fromarray(np.dstack([rgb, alpha])).save(os.path.join(OUT, "alpha.webp"), quality=80); webp["alpha"] = None
    tensors = {}
    for name in webp:
        tensors["webp." + name] = torch.from_numpy(np.array(Image.open(os.path.join(OUT, name + ".webp")).convert("RGB"), dtype=np.uint8, copy=True))
    for name, samples16 in files.items():
        path = os.path.join(OUT, name + ".png")
        if samples16 is None:
            out = np.asarray(Image.open(path).convert("RGB"))
        else:
            scaled = np.floor(samples16.astype(np.float64) / 257 + 0.5).astype(np.uint8)
            out = np.dstack([scaled] * 3) if scaled.ndim == 2 else scaled
            # The file really holds these samples: Pillow reads the grey one back as I;16.
            if scaled.ndim == 2:
                assert (np.asarray(Image.open(path)) == samples16).all()
        tensors["rgb." + name] = torch.from_numpy(np.array(out, dtype=np.uint8, copy=True))
    # The interlaced file decodes to the same pixels as the plain one.
    assert bool((tensors["rgb.rgb8-interlaced"] == tensors["rgb.rgb8"]).all())
    from PIL import features
    save_fixture("ch01-png", tensors, {"pillow": Image.__version__, "libwebp": features.version("webp")})
    print("wrote", len(tensors), "PNG cases to", OUT)


if __name__ == "__main__":
    main()
