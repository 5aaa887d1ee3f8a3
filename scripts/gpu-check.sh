#!/usr/bin/env bash
# On a GPU box: measure hifi's CUDA build, each GPU figure beside the CPU's measured in the same
# run, and write one table (gpu-check/table.md; the raw JSON beside it).
#   1. prelabel: `hifi bench prelabel` on the GPU (items/s, and the ratio to llama.cpp's raw
#      prefill of the same prompts) and with --gpu-layers 0 on the CPU;
#   2. embed: `hifi bench embed`, the same two ways;
#   3. a LoRA round on 400 sample ads labeled by their gold labels (`hifi round --trainer lora`:
#      train, hot-load the adapter, prelabel the 400 again), on the GPU.
#
#   scripts/gpu-check.sh                        # builds target/cuda/release/hifi first if needed
#   HIFI_BIN=path/to/hifi HIFI_MODEL=m.gguf scripts/gpu-check.sh   # a built binary, a model
#
# HIFI_MODEL: the GGUF (default: the default model, fetched by scripts/setup.sh). HIFI_GPU_ITEMS:
# items per benchmark (default 400; the CPU runs a quarter of them: rates are per item).
#
#   scripts/gpu-check.sh --no-gpu   # on a machine without a GPU: the CUDA build's fallback
#
# --no-gpu checks what the CUDA build does where the driver finds no GPU (on a GPU box it hides
# the GPUs with CUDA_VISIBLE_DEVICES=""): `hifi status` and
# `hifi prelabel` say so in one line and run on the CPU; an explicit --gpu-layers fails with
# one line naming the setting; LoRA training says it runs on the CPU. Without a driver on the
# machine it loads the driver library build-cuda.sh linked against (Debian's libcuda1).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
out="${HIFI_GPU_CHECK_OUT:-$here/gpu-check}"
items="${HIFI_GPU_ITEMS:-400}"
cpu_items=$(( items / 4 > 20 ? items / 4 : 20 ))
hifi="${HIFI_BIN:-$here/target/cuda/release/hifi}"
cache="${HIFI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hifi}"
say() { printf '[gpu-check] %s\n' "$*" >&2; }
# The output folder is emptied first: only one this script made (it holds .gpu-check), or none.
fresh_out() {
  if [ -e "$out" ] && [ ! -f "$out/.gpu-check" ]; then
    say "$out exists and is not a gpu-check output folder; set HIFI_GPU_CHECK_OUT to a new one"
    exit 1
  fi
  rm -rf "$out"
  mkdir -p "$out"
  touch "$out/.gpu-check"
}

if [ "${1:-}" = "--no-gpu" ]; then
  [ -x "$hifi" ] || { say "no CUDA build at $hifi (scripts/build-cuda.sh)"; exit 1; }
  export CUDA_VISIBLE_DEVICES=""   # on a GPU box: the GPUs hidden, as on a machine without one
  if ldd "$hifi" | grep -q 'libcuda.so.1 => not found'; then
    say "no NVIDIA driver here: loading $cache/libcuda1-535/libcuda.so.1 (Debian's libcuda1)"
    export LD_LIBRARY_PATH="$cache/libcuda1-535${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  fail=0
  check() { # description, condition (a command)
    if eval "$2"; then say "ok: $1"; else say "FAILED: $1"; fail=1; fi
  }
  fresh_out
  head -n 1 sample-data/ads.csv >"$out/ads.csv"
  python3 -c "import csv,sys; r=list(csv.reader(open('sample-data/ads.csv', newline='', encoding='utf-8'))); csv.writer(open('$out/ads.csv','a', newline='', encoding='utf-8')).writerows(r[1:9])"
  proj="$out/project"
  "$hifi" init "$proj" --from sample-data/labels.toml >/dev/null
  "$hifi" -C "$proj" import -q "$out/ads.csv" >/dev/null
  "$hifi" -C "$proj" status >"$out/status.txt" 2>"$out/status.err"
  sed -n '/^runs on/,+1p' "$out/status.txt" >&2
  check "status: runs on the CPU, and why" "grep -q '^runs on   CPU' '$out/status.txt' && grep -q 'no GPU found (CUDA: ' '$out/status.txt'"
  "$hifi" -C "$proj" prelabel -q >"$out/prelabel.out" 2>"$out/prelabel.err" && rc=0 || rc=$?
  cat "$out/prelabel.err" >&2
  check "prelabel (gpu_layers auto): runs on the CPU" "[ $rc = 0 ] && grep -q '^predicted 8 ' <('$hifi' -C '$proj' status)"
  check "prelabel: one line says so" "[ \$(grep -c . '$out/prelabel.err') = 1 ] && grep -q 'no GPU found (CUDA: .*): the model runs on the CPU' '$out/prelabel.err'"
  "$hifi" -C "$proj" prelabel -q --gpu-layers 99 >/dev/null 2>"$out/explicit.err" && rc=0 || rc=$?
  cat "$out/explicit.err" >&2
  check "prelabel --gpu-layers 99: fails" "[ $rc != 0 ]"
  check "prelabel --gpu-layers 99: one line naming the setting" "[ \$(grep -c . '$out/explicit.err') = 1 ] && grep -q 'gpu_layers is 99' '$out/explicit.err'"
  "$hifi" bench train --data "$out/ads.csv" --steps 1 --batch 1 --no-baselines >/dev/null 2>"$out/train.err" && rc=0 || rc=$?
  grep -i 'gpu' "$out/train.err" >&2 || true
  check "LoRA training: runs on the CPU, said" "[ $rc = 0 ] && grep -q 'no GPU for LoRA training (CUDA: .*): it runs on the CPU' '$out/train.err'"
  exit $fail
fi

command -v nvidia-smi >/dev/null 2>&1 || say "no nvidia-smi: this machine may have no NVIDIA driver (the check goes on; hifi says where it runs)"
gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -n1 || true)"
if [ ! -x "$hifi" ]; then
  cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d '. ')"
  say "no binary at $hifi: building it (HIFI_CUDA_ARCHS=${HIFI_CUDA_ARCHS:-${cap:-80;86;89;90}})"
  HIFI_CUDA_ARCHS="${HIFI_CUDA_ARCHS:-${cap:-80;86;89;90}}" bash scripts/build-cuda.sh >/dev/null
fi
model="${HIFI_MODEL:-$(bash scripts/setup.sh 2>/dev/null | tail -n1)}"
[ -s "$model" ] || { say "no model at '$model' (set HIFI_MODEL to a GGUF)"; exit 1; }
export HIFI_MODEL="$model"

fresh_out
# 400 sample ads with their gold labels, as one expert's labels.
python3 - "$items" "$out" <<'PY'
import csv, sys
n, out = int(sys.argv[1]), sys.argv[2]
with open("sample-data/ads.csv", newline="", encoding="utf-8") as f:
    r = csv.DictReader(f)
    rows = [row for _, row in zip(range(n), r)]
    fields = r.fieldnames
with open(f"{out}/ads.csv", "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
with open(f"{out}/labels.txt", "w", encoding="utf-8") as f:
    f.writelines(f"{row['id']} {row['gold']}\n" for row in rows)
PY

timed() { # name, command…: runs it, keeps its stdout as $out/name.json, prints the seconds
  local name="$1"; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$out/$name.json" 2>"$out/$name.log" || { say "$name failed (see $out/$name.log)"; tail -n 5 "$out/$name.log" >&2; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.1f}')"
}

say "GPU: ${gpu:-none found by nvidia-smi}"
"$hifi" --version >"$out/version.txt"
proj="$out/project"
"$hifi" init "$proj" --from sample-data/labels.toml >/dev/null
"$hifi" -C "$proj" import -q "$out/ads.csv" >/dev/null
"$hifi" -C "$proj" status >"$out/status.txt"
grep -A1 '^runs on' "$out/status.txt" >&2 || true

say "prelabel: GPU ($items items), CPU ($cpu_items items)"
timed prelabel-gpu "$hifi" bench prelabel --data "$out/ads.csv" --items "$items" --json >/dev/null
timed prelabel-cpu "$hifi" bench prelabel --data "$out/ads.csv" --items "$cpu_items" --gpu-layers 0 --json >/dev/null
say "embed: GPU, CPU"
timed embed-gpu "$hifi" bench embed --data "$out/ads.csv" --items "$items" --json >/dev/null
timed embed-cpu "$hifi" bench embed --data "$out/ads.csv" --items "$cpu_items" --gpu-layers 0 --json >/dev/null
say "LoRA round on $items labeled ads (GPU)"
"$hifi" -C "$proj" label --stdin --annotator gold <"$out/labels.txt" >/dev/null
timed prelabel-project "$hifi" -C "$proj" prelabel >/dev/null
round_s="$(timed round-lora "$hifi" -C "$proj" round --trainer lora --epochs 1 --no-mine --json)"

python3 - "$out" "$round_s" "$gpu" <<'PY'
import json, sys
out, round_s, gpu = sys.argv[1], float(sys.argv[2]), sys.argv[3]
j = lambda n: json.load(open(f"{out}/{n}.json"))
pg, pc, eg, ec = j("prelabel-gpu"), j("prelabel-cpu"), j("embed-gpu"), j("embed-cpu")
rows = [
    ("prelabel, items/s", pg["items_per_s"], pc["items_per_s"]),
    ("prelabel ÷ raw prefill of the same prompts", pg["ratio_vs_raw"], pc["ratio_vs_raw"]),
    ("embed, items/s", eg["items_per_s"], ec["items_per_s"]),
    ("embed ÷ raw prefill", eg["ratio_vs_raw"], ec["ratio_vs_raw"]),
]
runs_on = [l.strip() for l in open(f"{out}/status.txt") if l.startswith(("runs on", "          "))]
lines = [f"GPU: {gpu or 'none'}; model {pg['model']}", "", "hifi status: " + " ".join(runs_on), "",
         "| measure | GPU | CPU | GPU ÷ CPU |", "|---|---|---|---|"]
for name, g, c in rows:
    ratio = f"{g / c:.2f}×" if "items/s" in name and c else "–"
    lines.append(f"| {name} | {g:.2f} | {c:.2f} | {ratio} |")
lines.append(f"| LoRA round on the labeled ads (train, hot-load, prelabel again), s | {round_s:.0f} | – | – |")
table = "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(table)
print(table)
PY
