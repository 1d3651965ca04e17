#!/usr/bin/env bash
# The second edition's patch-size study behind Walkthrough 08's tables: chapter 08 trained once per
# variant on the same generated data, one after another on this machine. (The third edition's study,
# with seeds and the plain PyTorch CLIP beside it, is Scripts/study.py.)
# Prints a Markdown table: what changed, steps taken, images/s, zero-shot accuracy on the test images
# and on the held-out colour–shape pairs.
#
#   bash Scripts/sweep.sh [SECONDS] [EPOCHS] [OUT]   (default 120 s and 2 epochs per variant, output/sweep)
#
# Part 1 gives every variant EPOCHS epochs; SWEEP=time gives every variant SECONDS of training.
# Either way each learning-rate schedule runs to its end.
#
# Each line of VARIANTS below is "label|ch08 flags". Add your own: any field of the configuration
# can be changed with --set path=value (see `ch08-training --help`).
set -euo pipefail
seconds=${1:-120}
epochs=${2:-2}
out=${3:-output/sweep}
bin=.build/release/ch08-training
[ -x "$bin" ] || swift build -c release --product ch08-training
mkdir -p "$out"
# Part 1 (the default): every variant the same epochs (--epochs alone: the cosine spans them, no
# time budget). Part 2 (SWEEP=time): every variant the same seconds (--seconds alone: the cosine
# spans the seconds, so each ends decayed whatever its speed).
# Every variant names its patch size, so the tables in Walkthrough 08 (made when patch 8 was the
# default) come out the same whatever the default is now.
if [ "${SWEEP:-epochs}" = time ]; then
VARIANTS=(
  "patch 8|--set model.vit.patchSize=8"
  "patch 16|--set model.vit.patchSize=16"
  "48-px input, patch 8|--set model.vit.imageSize=48 --set model.vit.patchSize=8"
)
else
VARIANTS=(
  "patch 8, class token, lr 5e-4, batch 64|--set model.vit.patchSize=8"
  "patch 16 (a 4×4 grid of 16 tokens)|--set model.vit.patchSize=16"
  "48-px input, patch 8 (a 6×6 grid of 36 tokens)|--set model.vit.imageSize=48 --set model.vit.patchSize=8"
  "patch 8, learning rate 1e-3|--set model.vit.patchSize=8 --lr 1e-3"
  "patch 8, batch 32|--set model.vit.patchSize=8 --set batchSize=32"
  "patch 8, mean pooling instead of the class token|--set model.vit.patchSize=8 --set model.vit.pool=mean"
)
fi
data="$out/data"
if [ ! -f "$data/captions.csv" ]; then
  "$bin" --out "$out/generate" --epochs 1 --set maxStepsPerEpoch=1 --overwrite > /dev/null
  mv "$out/generate/data" "$data"
fi
echo "| variant | training s | steps | images/s | zero-shot, test | zero-shot, unseen pairs |"
echo "|---|---|---|---|---|---|"
for line in "${VARIANTS[@]}"; do
  label=${line%%|*}
  flags=${line#*|}
  dir="$out/$(echo "$label" | tr -c 'a-z0-9\n' '-' | tr -s '-')"
  # shellcheck disable=SC2086
  if [ "${SWEEP:-epochs}" = time ]; then budget=(--seconds "$seconds"); else budget=(--epochs "$epochs"); fi
  "$bin" --out "$dir" --data "$data" --overwrite "${budget[@]}" $flags > "$dir.txt" 2>&1 || { echo "| $label | failed: see $dir.txt | | | |"; continue; }
  python3 - "$dir/log.jsonl" "$label" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
final = [e for e in entries if e["kind"] == "final"][-1]
print(f"| {sys.argv[2]} | {final['train_seconds']:.0f} | {final['steps']} | {final['images_per_second']:.0f} | "
      f"{100 * final['zero_shot_test']:.1f}% | {100 * final['zero_shot_unseen']:.1f}% |")
PY
done
