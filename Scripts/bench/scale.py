"""`clip index` and `clip search` on a photo library of 10,000 files, beside a Python twin doing the same work
(open_clip + Pillow, the way rclip does it: Scripts/bench/scale_twin.py), on this machine, one after the other.

    python Scripts/bench/scale.py [--photos 10000] [--work /tmp/clip-scale] [--record NAME [--force]] [--no-twin]

1. Photos: a generated library (kept in WORK/photos and reused while its manifest matches): JPEG and PNG of
   mixed sizes — 640×480 to 12-megapixel phone photos, portrait and landscape, RGB, RGBA and palette PNG
   screenshots — in year/month folders, some with upper-case extensions. Each is a smooth scene (sky, ground,
   blurred shapes) with sensor-like noise, so it compresses like a photo, not like a flat test card.
2. Weights: open_clip's ViT-B-32-quickgelu (rclip's model) with random weights (torch seed 0), saved as
   safetensors: the file both sides read. No pretrained weights exist here; shapes and work are the real ones.
3. Index: `clip index PHOTOS --clip W --out WORK/ours.index` and `scale_twin.py index W PHOTOS WORK/twin.npy`,
   each a whole process on both cores: wall time, photos per second, peak resident memory (the process's own,
   from GNU time). Then `clip index` again with nothing changed (the incremental re-run).
4. Agreement: the two indexes hold the same paths, and each photo's two embeddings have cosine ≥ 0.999 (the
   same model and the same Pillow-exact preprocessing: a check with a known answer, not only a stopwatch).
5. Search: one sentence, top 10, as a whole process (what a user waits for), five times each, interleaved;
   median and peak memory. Both sides must return the same ten photos.

Results print as a table; --record NAME writes Results/NAME.json (the numbers the README and BENCHMARKS.md quote).
Needs the reference virtual environment (Scripts/reference/requirements.txt) and ~10 GB of free disk.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))
from compare import cpu_kind  # noqa: E402

GENERATOR_VERSION = "1"
# (share of the library, format, size as width × height of a landscape photo, extra)
KINDS = [
    (0.20, "jpeg", (640, 480), {"quality": 85}),        # old cameras, web downloads
    (0.20, "jpeg", (1280, 960), {"quality": 90}),
    (0.20, "jpeg", (1920, 1080), {"quality": 90}),
    (0.10, "jpeg", (4032, 3024), {"quality": 90}),      # a 12-megapixel phone photo
    (0.10, "png", (2532, 1170), {"mode": "RGBA"}),      # a phone screenshot (flat, alpha channel)
    (0.10, "png", (800, 600), {"mode": "RGB"}),         # a photo saved as PNG
    (0.05, "png", (1920, 1080), {"mode": "RGB"}),
    (0.05, "png", (640, 480), {"mode": "P"}),           # a palette PNG with a transparent colour
]
SENTENCE = "a photo of a dog on the beach"


def kind_of(i, count):
    """The kind of photo i: the shares laid out over 0..<count, then shuffled with a fixed permutation."""
    order = np.random.default_rng(12345).permutation(count)
    position, edge = order[i] / count, 0.0
    for kind in KINDS:
        edge += kind[0]
        if position < edge:
            return kind
    return KINDS[-1]


def make_photo(args):
    """Photo i of the library: writes it and returns (relative path, bytes)."""
    i, count, folder = args
    from PIL import Image, ImageDraw, ImageFilter
    rng = np.random.default_rng(i)
    _, fmt, (w, h), extra = kind_of(i, count)
    if fmt == "jpeg" and rng.random() < 0.3:
        w, h = h, w  # portrait
    # The scene at 1/8 size: a sky gradient over a ground band, a few blurred shapes; then enlarged.
    sw, sh = max(w // 8, 8), max(h // 8, 8)
    sky, ground = rng.integers(40, 230, 3), rng.integers(20, 200, 3)
    horizon = int(sh * rng.uniform(0.4, 0.8))
    y = np.linspace(0, 1, sh)[:, None, None]
    scene = np.where(np.arange(sh)[:, None, None] < horizon, sky * (1 - 0.4 * y), ground * (0.7 + 0.3 * y))
    small = Image.fromarray(np.broadcast_to(scene, (sh, sw, 3)).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(small)
    for _ in range(int(rng.integers(2, 7))):
        x0, y0 = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        r = int(rng.integers(2, max(3, min(sw, sh) // 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0 - r, y0 - r, x0 + r, y0 + r), fill=colour)
    photo = small.filter(ImageFilter.GaussianBlur(1)).resize((w, h), Image.BICUBIC)
    screenshot = fmt == "png" and extra["mode"] == "RGBA"
    if not screenshot:  # sensor noise: what makes a photo compress like a photo
        # (grain at 1/4 size, enlarged: texture JPEG has to spend bits on; then per-pixel noise)
        grain = Image.fromarray(rng.integers(0, 256, (max(h // 4, 1), max(w // 4, 1)), dtype=np.uint8)).resize((w, h), Image.BILINEAR)
        pixels = (np.asarray(photo, dtype=np.int16) + (np.asarray(grain, dtype=np.int16)[:, :, None] - 128) // 6
                  + rng.integers(-8, 9, (h, w, 3), dtype=np.int16))
        photo = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    year, month = 2015 + i % 10, 1 + (i // 10) % 12
    stem = os.path.join(str(year), f"{month:02d}", f"IMG_{i:05d}")
    if fmt == "jpeg":
        name = stem + (".JPG" if i % 7 == 0 else ".jpeg" if i % 11 == 0 else ".jpg")
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        photo.save(path, quality=extra["quality"])
    else:
        name = stem.replace("IMG_", "Screenshot_" if screenshot else "IMG_") + ".png"
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if extra["mode"] == "RGBA":
            alpha = Image.new("L", (w, h), 255)
            ImageDraw.Draw(alpha).rectangle((0, 0, w - 1, h // 20), fill=0)  # a transparent status bar
            photo = photo.convert("RGBA")
            photo.putalpha(alpha)
            photo.save(path)
        elif extra["mode"] == "P":
            palette = photo.quantize(64)
            palette.info["transparency"] = 0
            palette.save(path, transparency=0)
        else:
            photo.save(path)
    return name, os.path.getsize(path)


def make_library(folder, count):
    manifest = os.path.join(folder, "manifest.json")
    want = {"version": GENERATOR_VERSION, "count": count}
    if os.path.exists(manifest):
        with open(manifest) as f:
            have = json.load(f)
        if {k: have.get(k) for k in want} == want:
            return have
    from multiprocessing import Pool
    subprocess.run(["rm", "-rf", folder], check=True)
    os.makedirs(folder)
    started = time.perf_counter()
    files = []
    with Pool(os.cpu_count()) as pool:
        for n, result in enumerate(pool.imap(make_photo, [(i, count, folder) for i in range(count)], chunksize=8), 1):
            files.append(result)
            if n % 500 == 0:
                print(f"  generated {n}/{count} photos ({time.perf_counter() - started:.0f} s)", flush=True)
    sizes = [s for _, s in files]
    have = dict(want, files=len(files), bytes=sum(sizes),
                jpeg=sum(n.lower().endswith((".jpg", ".jpeg")) for n, _ in files),
                png=sum(n.endswith(".png") for n, _ in files))
    with open(manifest, "w") as f:
        json.dump(have, f)
    return have


def make_weights(path):
    if os.path.exists(path):
        return
    import open_clip
    import torch
    from safetensors.torch import save_file
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms("ViT-B-32-quickgelu", pretrained=None)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)


def run(command, log=None):
    """Runs `command` to the end: (wall seconds, peak resident MB of the process, stdout).

    The peak comes from GNU time (`/usr/bin/time -f %M`), not from this process's wait4: Python starts children
    with vfork, and Linux carries the parent's high-water mark across the exec into the child's ru_maxrss — every
    command here read 1349 MB that way, a 0.4 s re-index included (GNU time's own child is forked from a small
    process, so its figure is the command's alone)."""
    if not os.path.exists("/usr/bin/time"):
        sys.exit("needs GNU time for peak memory: apt-get install time")
    peak_file = os.path.join(os.path.dirname(log) if log else "/tmp", ".peak-kb")
    started = time.perf_counter()
    with open(log or os.devnull, "w") as err:
        process = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak_file] + command, stdout=subprocess.PIPE,
                                 stderr=err, text=True)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({process.returncode}); see {log}")
    with open(peak_file) as f:
        peak_kb = int(f.read().split()[-1])
    return seconds, peak_kb / 1024, process.stdout


def read_our_index(path):
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        files = json.loads(f.metadata()["files"])
        return [entry["path"] for entry in files], f.get_tensor("embeddings")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=10000)
    parser.add_argument("--work", default="/tmp/clip-scale")
    parser.add_argument("--record", help="write Results/NAME.json")
    parser.add_argument("--no-twin", action="store_true", help="only our side (the agreement check is skipped)")
    parser.add_argument("--force", action="store_true", help="let --record replace a file measured on another CPU kind")
    options = parser.parse_args()
    if options.record is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", options.record):
        sys.exit(f"--record takes a plain name (letters, digits, . _ -), written as Results/NAME.json; got {options.record!r}")
    record_path = os.path.join(REPO, "Results", options.record + ".json") if options.record else None
    if record_path and os.path.exists(record_path) and not options.force:
        # Checked before the hour of work, not after: a file named for one CPU must not silently get another's run.
        with open(record_path) as f:
            recorded = json.load(f).get("cpu")
        if recorded != cpu_kind()[1]:
            sys.exit(f"{record_path} holds a run on {recorded}; this machine is {cpu_kind()[1]}. "
                     "Record under another name (e.g. scale-avx2), or pass --force to replace it.")
    work = options.work
    os.makedirs(work, exist_ok=True)
    photos = os.path.join(work, "photos")
    print(f"== a library of {options.photos} photos in {photos}", flush=True)
    library = make_library(photos, options.photos)
    print(f"   {library['jpeg']} JPEG + {library['png']} PNG, {library['bytes'] / 1e9:.2f} GB", flush=True)
    weights = os.path.join(work, "vit-b-32-quickgelu-random.safetensors")
    make_weights(weights)
    clip = os.path.join(REPO, ".build", "release", "clip")
    subprocess.run(["swift", "build", "-c", "release", "--product", "clip"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    twin = [sys.executable, os.path.join(REPO, "Scripts", "bench", "scale_twin.py")]
    ours_index, twin_index = os.path.join(work, "ours.index"), os.path.join(work, "twin.npy")
    result = {"cpu": cpu_kind()[1], "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "photos": library, "threads": os.cpu_count(), "sentence": SENTENCE}

    print("== clip index", flush=True)
    for stale in (ours_index,):
        if os.path.exists(stale):
            os.remove(stale)  # a fresh index, not an incremental re-run
    seconds, peak, out = run([clip, "index", photos, "--clip", weights, "--out", ours_index], os.path.join(work, "ours-index.log"))
    paths, rows = read_our_index(ours_index)
    result["ours"] = {"index_seconds": seconds, "photos_per_second": len(paths) / seconds, "index_peak_mb": peak,
                      "indexed": len(paths)}
    print(f"   {len(paths)} photos in {seconds:.1f} s: {len(paths) / seconds:.2f} photos/s, peak {peak:.0f} MB", flush=True)
    seconds, peak, _ = run([clip, "index", photos, "--clip", weights, "--out", ours_index], os.path.join(work, "ours-reindex.log"))
    result["ours"].update(reindex_seconds=seconds, reindex_peak_mb=peak)
    print(f"   again with nothing changed: {seconds:.2f} s, peak {peak:.0f} MB", flush=True)

    if not options.no_twin:
        print("== the twin (open_clip + Pillow)", flush=True)
        seconds, peak, _ = run(twin + ["index", weights, photos, twin_index], os.path.join(work, "twin-index.log"))
        twin_rows = np.load(twin_index)
        with open(twin_index + ".paths") as f:
            twin_paths = f.read().splitlines()
        result["twin"] = {"index_seconds": seconds, "photos_per_second": len(twin_paths) / seconds, "index_peak_mb": peak,
                          "indexed": len(twin_paths)}
        print(f"   {len(twin_paths)} photos in {seconds:.1f} s: {len(twin_paths) / seconds:.2f} photos/s, peak {peak:.0f} MB", flush=True)
        if sorted(twin_paths) != sorted(paths):
            sys.exit(f"the two indexes hold different photos: {len(set(paths) - set(twin_paths))} only ours, "
                     f"{len(set(twin_paths) - set(paths))} only the twin's")
        order = {p: r for r, p in enumerate(twin_paths)}
        cosines = np.einsum("ij,ij->i", rows, twin_rows[[order[p] for p in paths]])
        worst = int(np.argmin(cosines))
        result["agreement"] = {"min_cosine": float(cosines.min()), "median_cosine": float(np.median(cosines)),
                               "worst_photo": paths[worst]}
        print(f"   per-photo cosine, ours vs twin: min {cosines.min():.6f} ({paths[worst]}), median {np.median(cosines):.6f}", flush=True)
        if cosines.min() < 0.999:
            sys.exit("the two sides embed some photo differently (cosine < 0.999): a preprocessing or model difference, not a timing")

    print(f"== search, one sentence ({SENTENCE!r}), top 10, whole process, 5 runs each", flush=True)
    sides = {"ours": [clip, "search", ours_index, SENTENCE, "-k", "10", "--paths"]}
    if not options.no_twin:
        sides["twin"] = twin + ["search", weights, twin_index, SENTENCE, "-k", "10"]
    times, peaks, answers = {s: [] for s in sides}, {s: 0 for s in sides}, {}
    for _ in range(5):
        for side, command in sides.items():
            seconds, peak, out = run(command, os.path.join(work, f"{side}-search.log"))
            times[side].append(seconds)
            peaks[side] = max(peaks[side], peak)
            answers[side] = out.splitlines()
    for side in sides:
        result[side].update(search_seconds=statistics.median(times[side]), search_runs=times[side], search_peak_mb=peaks[side])
        print(f"   {side}: median {statistics.median(times[side]):.3f} s, peak {peaks[side]:.0f} MB", flush=True)
    if not options.no_twin:
        same = answers["ours"] == answers["twin"]
        result["agreement"]["same_top10"] = same
        print(f"   the same ten photos in the same order: {same}", flush=True)
        if set(answers["ours"]) != set(answers["twin"]):
            sys.exit(f"the two searches return different photos:\n{answers}")
        for key in ("index_seconds", "index_peak_mb", "search_seconds", "search_peak_mb"):
            result.setdefault("ratios", {})[key] = result["ours"][key] / result["twin"][key]

    print("\n| | clip (Swift) | twin (open_clip + Pillow) | ratio |\n|---|---:|---:|---:|")
    o, t = result["ours"], result.get("twin", {})
    for label, key, fmt in ((f"index {o['indexed']:,} photos, seconds", "index_seconds", "{:.0f}"), ("photos per second", "photos_per_second", "{:.2f}"),
                            ("index peak memory, MB", "index_peak_mb", "{:.0f}"), ("one search, seconds", "search_seconds", "{:.2f}"),
                            ("search peak memory, MB", "search_peak_mb", "{:.0f}")):
        ratio = f"{o[key] / t[key]:.2f}×" if key in t else ""
        print(f"| {label} | {fmt.format(o[key])} | {fmt.format(t[key]) if key in t else '–'} | {ratio} |")
    if record_path:
        path = record_path
        with open(path, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
