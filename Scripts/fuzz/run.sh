#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (swiftc -sanitize=fuzzer,address) and runs them.
#   bash Scripts/fuzz/run.sh [jpeg|safetensors|tokenizer|all] [SECONDS per target, default 600]
# Seed corpora come from the test fixtures; each target's corpus grows in .build-fuzz/corpus/<target>
# and any crasher is written to .build-fuzz/crashes/<target>/ (keep it as a regression test).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
WHICH="${1:-all}"
SECONDS_EACH="${2:-600}"
OUT="$ROOT/.build-fuzz"
mkdir -p "$OUT"

echo "== building the fuzz targets (debug, -sanitize=fuzzer,address)"
swift build --package-path Fuzz --scratch-path "$OUT/build" -c debug \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | grep -E "error|warning: |Build" || true
BIN="$(swift build --package-path Fuzz --scratch-path "$OUT/build" -c debug --show-bin-path)"

seed() {  # seed <target> <files…>
  local dir="$OUT/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do cp -n "$f" "$dir/" 2>/dev/null || true; done
}
seed jpeg Tests/Fixtures/images/*.jpg
seed safetensors Tests/Fixtures/ch06-projection.safetensors Tests/Fixtures/ch09-zero-shot.safetensors Tests/Fixtures/ch02-layers.safetensors
mkdir -p "$OUT/corpus/tokenizer"
printf 'A dog runs across the grass.' > "$OUT/corpus/tokenizer/plain"
printf 'Caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 [CLS] [SEP] a\xe2\x80\x8bb \xef\xbf\xbd' > "$OUT/corpus/tokenizer/unicode"
printf '%0.s!?' {1..200} > "$OUT/corpus/tokenizer/punctuation"

run() {  # run <target>
  local t="$1"
  mkdir -p "$OUT/crashes/$t"
  echo "== fuzz-$t for ${SECONDS_EACH}s"
  "$BIN/fuzz-$t" "$OUT/corpus/$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$OUT/crashes/$t/" -print_final_stats=1 2>&1 | tee "$OUT/fuzz-$t.log" | grep -E "^#[0-9]+ *(DONE|pulse)|stat::|ERROR|SUMMARY" || true
}
if [ "$WHICH" = all ]; then for t in jpeg safetensors tokenizer; do run "$t"; done; else run "$WHICH"; fi
