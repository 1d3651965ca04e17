"""Keeps the walkthroughs true: runs each chapter (release build) and compares its output with the run
captured in Walkthroughs/NN-*.md (the first ``` block after "## A real run").

    python3 Scripts/walkthroughs.py            # check: report every chapter whose printed steps drifted
    python3 Scripts/walkthroughs.py --write    # re-capture: replace the blocks with today's output
    python3 Scripts/walkthroughs.py 03 05      # only these chapters
    python3 Scripts/walkthroughs.py --snippets # refresh the code snippets from the source (no build, no run)

Timings and throughput change from run to run, so the check compares the lines with the numbers that
measure time blanked out. Chapter 08 trains for minutes and its block is trimmed by hand (epochs
elided), so it is only checked when named, and never rewritten. Pictures the chapters write are copied
to Walkthroughs/images with --write. Standard library only.

Code snippets: a line `<!-- snippet: Sources/…/File.swift#name -->` in a walkthrough is followed by a link
to the lines and a ```swift block holding the lines between `// ANCHOR: name` and `// ANCHOR_END: name`
in that file (dedented). `--snippets` rewrites them; WalkthroughTests fails when one no longer matches.
"""
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CHAPTERS = {
    "01": ("ch01-patches", "01-Patches.md"),
    "02": ("ch02-attention", "02-Attention.md"),
    "03": ("ch03-vit", "03-ViT.md"),
    "04": ("ch04-tokenizer", "04-Tokenizer.md"),
    "05": ("ch05-bert", "05-BERT.md"),
    "06": ("ch06-projection", "06-Projection.md"),
    "07": ("ch07-contrastive-loss", "07-Contrastive-Loss.md"),
    "08": ("ch08-training", "08-Training.md"),
    "09": ("ch09-zero-shot", "09-Zero-Shot.md"),
    "11": ("ch11-openai-clip", "11-OpenAI-CLIP.md"),
}
# The charts the chapters write, and the names the walkthroughs show them under (photos and image panels
# are converted to JPEG by hand; these are copied as they are).
PICTURES = [
    ("output/ch02-attention/head0-matrix.svg", "02-head0-matrix.svg"),
    ("output/ch05-bert/similarity.svg", "05-similarity.svg"),
    ("output/ch06-projection/similarity-before-training.svg", "06-similarity-before-training.svg"),
    ("output/ch07-contrastive-loss/logits-before.svg", "07-logits-before.svg"),
    ("output/ch07-contrastive-loss/logits-after.svg", "07-logits-after.svg"),
    ("output/ch08-training/loss-curve.svg", "08-loss-curve.svg"),
    ("output/ch08-training/zero-shot-curve.svg", "08-zero-shot-curve.svg"),
    ("output/ch09-zero-shot/search.svg", "09-search.svg"),
    ("output/ch09-zero-shot/classes.svg", "09-classes.svg"),
    ("output/ch09-zero-shot/confusion.svg", "09-confusion.svg"),
]
TIMING = re.compile(r"(·\s*)?\d+(\.\d+)?\s*(µs|ms|s|min \d+ s)\b|\d+(\.\d+)? (img|ex|images)/s|ETA [^·]*|\d+(\.\d+)? GFLOP/s")


TINY = re.compile(r"-?\d\.\d+e-(0[7-9]|[1-9]\d)")


def captured_block(text):
    start = re.search(r"^## A real run.*$", text, re.M)
    if not start:
        return None
    fence = text.index("```", start.end())
    body_start = text.index("\n", fence) + 1
    end = text.index("```", body_start)
    return body_start, end


def normalise(lines):
    out = []
    for line in lines:
        if line.startswith(("embedding [", "epoch ", "steps [")) or "elided" in line or line.strip().startswith("…"):
            continue
        # A mean of zero in exact arithmetic (a LayerNorm's output) prints float noise that changes
        # with the threads' summation order: anything below 1e-6 in scientific notation is "zero".
        out.append(TINY.sub("<0>", TIMING.sub("<t>", line.rstrip())))
    return out


# A marker, then (unless it is new) exactly the block --snippets wrote after it: the link line, a blank
# line, and one ```swift fence. A new marker has no block yet and gets one; the pattern never reaches
# past the marker's own block (an earlier, looser pattern swallowed the text up to the next snippet).
SNIPPET = re.compile(r"^<!-- snippet: (\S+)#(\S+) -->\n(?:\[`[^\n]*\n\n```swift\n(?:(?!```).*\n)*```\n)?", re.M)


def snippet(path, name):
    """(first line, last line, dedented text) of the anchored region `name` in `path` (1-based lines)."""
    lines = open(os.path.join(REPO, path), encoding="utf-8").read().split("\n")
    start = next(i for i, l in enumerate(lines) if l.strip() == f"// ANCHOR: {name}")
    end = next(i for i, l in enumerate(lines) if l.strip() == f"// ANCHOR_END: {name}")
    body = [l for l in lines[start + 1:end] if "// ANCHOR" not in l]
    indent = min(len(l) - len(l.lstrip(" ")) for l in body if l.strip())
    return start + 2, end, "\n".join(l[indent:] for l in body)


def snippet_block(path, name):
    first, last, text = snippet(path, name)
    return (f"<!-- snippet: {path}#{name} -->\n[`{os.path.basename(path)}`, lines {first}–{last}]"
            f"(../{path}#L{first}-L{last}):\n\n```swift\n{text}\n```\n")


def refresh_snippets():
    for doc in sorted(os.listdir(os.path.join(REPO, "Walkthroughs"))):
        if not doc.endswith(".md"):
            continue
        path = os.path.join(REPO, "Walkthroughs", doc)
        text = open(path, encoding="utf-8").read()
        fresh = SNIPPET.sub(lambda m: snippet_block(m.group(1), m.group(2)), text)
        if fresh != text:
            open(path, "w", encoding="utf-8").write(fresh)
            print(f"{doc}: snippets refreshed")


def main(argv):
    if "--snippets" in argv:
        refresh_snippets()
        return 0
    write = "--write" in argv
    wanted = [a for a in argv if not a.startswith("--")] or [k for k in CHAPTERS if k != "08"]
    subprocess.run(["swift", "build", "-c", "release"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    binaries = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout.strip()
    drifted = 0
    for key in wanted:
        executable, doc = CHAPTERS[key]
        path = os.path.join(REPO, "Walkthroughs", doc)
        text = open(path, encoding="utf-8").read()
        span = captured_block(text)
        if span is None:
            print(f"{doc}: no '## A real run' block")
            drifted += 1
            continue
        run = subprocess.run([os.path.join(binaries, executable)], cwd=REPO, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{executable} failed:\n{run.stderr}")
            drifted += 1
            continue
        fresh = [l for l in run.stdout.splitlines() if not l.startswith(("embedding [",))]
        old = text[span[0]:span[1]].splitlines()
        a, b = normalise(old), normalise(fresh)
        missing = [l for l in a if l not in b]
        if not missing:
            print(f"{doc}: matches what {executable} prints today")
            continue
        drifted += 1
        print(f"{doc}: {len(missing)} captured lines no longer printed by {executable}, e.g.:")
        for line in missing[:5]:
            print(f"    {line}")
        if write and key != "08":
            if len(old) == len(fresh):
                # Line by line: keep a captured line whose content (timings aside) is unchanged, so a
                # re-capture on a busy machine does not overwrite quiet-machine timings.
                fresh = [o if normalise([o]) == normalise([f]) else f for o, f in zip(old, fresh)]
            text = text[:span[0]] + "\n".join(fresh) + "\n" + text[span[1]:]
            open(path, "w", encoding="utf-8").write(text)
            print(f"    re-captured into {doc}")
    if write:
        for src, dst in PICTURES:
            if os.path.exists(os.path.join(REPO, src)):
                shutil.copyfile(os.path.join(REPO, src), os.path.join(REPO, "Walkthroughs", "images", dst))
    return 1 if drifted and not write else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
