#!/usr/bin/env bash
# The recipe study behind Walkthrough 08's table: chapter 08 trained once per variant, each for the
# same budget of training seconds on the same generated data, one after another on this machine.
# Prints a Markdown table: what changed, steps taken, images/s, zero-shot accuracy on the test images
# and on the held-out colour–shape pairs.
#
#   bash Scripts/sweep.sh [SECONDS] [EPOCHS] [OUT]   (default 120 s and 2 epochs per variant, output/sweep)
#
# Every variant gets the same epochs (so its learning-rate schedule runs to its end) and the same cap
# on training seconds; a cheaper variant finishes early, and the table says when.
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
# Part 1 (the default): every variant the same epochs. Part 2 (SWEEP=time): every variant the same
# seconds, its epochs chosen so its cosine ends near the budget (from part 1's images/s).
# Every variant names its patch size, so the tables in Walkthrough 08 (made when patch 8 was the
# default) come out the same whatever the default is now.
if [ "${SWEEP:-epochs}" = time ]; then
VARIANTS=(
  "patch 8, 3 epochs|--set model.vit.patchSize=8 --epochs 3"
  "patch 16, 7 epochs|--set model.vit.patchSize=16 --epochs 7"
  "48-px input, patch 8, 4 epochs|--set model.vit.imageSize=48 --set model.vit.patchSize=8 --epochs 4"
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
  "$bin" --out "$dir" --data "$data" --overwrite --seconds "$seconds" --epochs "$epochs" $flags > "$dir.txt" 2>&1 || { echo "| $label | failed: see $dir.txt | | | |"; continue; }
  python3 - "$dir/log.jsonl" "$label" <<'PY'
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
final = [e for e in entries if e["kind"] == "final"][-1]
print(f"| {sys.argv[2]} | {final['train_seconds']:.0f} | {final['steps']} | {final['images_per_second']:.0f} | "
      f"{100 * final['zero_shot_test']:.1f}% | {100 * final['zero_shot_unseen']:.1f}% |")
PY
done
