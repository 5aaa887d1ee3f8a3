#!/usr/bin/env bash
# Measure hifi's curation strategies on real labeled data: for each set fetched by
# scripts/eval-data.sh, a project of HIFI_EVAL_ITEMS items (a seeded sample) is prelabeled
# and embedded by the default model, then `hifi simulate` runs every strategy with
# HIFI_EVAL_SEEDS seeds and writes eval-results/SET.json (everything, per seed), SET.svg (the
# curves) and SET.md (docs/curation.md's table: random's κ, each strategy's paired difference to
# random, adaptive's to margin). Projects are kept under eval-runs/ and resumed: a second run only re-simulates.
#
#   bash scripts/eval-curation.sh                  # all sets: ads sotu wordnet appstream
#   bash scripts/eval-curation.sh wordnet          # one set
#   HIFI_EVAL_ITEMS=2000 HIFI_EVAL_BUDGETS=50,100,200,400,1000 bash scripts/eval-curation.sh sotu wordnet  # the run in docs/curation.md
#   HIFI_EVAL_EMBEDDER="$(bash scripts/fetch-embedder.sh)" bash scripts/eval-curation.sh ads
#       # the same, with vectors from another GGUF: a copy of the prelabeled project,
#       # eval-runs/SET-ITEMS-NAME, embedded by it; results as eval-results/SET-NAME.*
#
# Not part of scripts/test.sh: prelabeling and embedding take minutes per thousand items on
# a CPU (see docs/curation.md); the simulations themselves take seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
items="${HIFI_EVAL_ITEMS:-1000}"
seeds="${HIFI_EVAL_SEEDS:-10}"
budgets="${HIFI_EVAL_BUDGETS:-50,100,200,400}"
strategies="${HIFI_EVAL_STRATEGIES:-adaptive,pairs,margin,random,cluster-margin}"
runs="${HIFI_EVAL_RUNS:-$here/eval-runs}"
results="${HIFI_EVAL_RESULTS:-$here/eval-results}"
say() { printf '[eval-curation] %s\n' "$*" >&2; }

bash scripts/setup.sh >/dev/null
bash scripts/eval-data.sh >/dev/null
cargo build --locked --quiet
hifi="$here/target/debug/hifi"
mkdir -p "$runs" "$results"

sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(ads sotu wordnet appstream)
for set in "${sets[@]}"; do
  data="$here/eval-data/$set"
  [ -s "$data/items.csv" ] || { say "no data for $set (scripts/eval-data.sh fetches ads, sotu, wordnet, appstream)"; exit 1; }
  project="$runs/$set-$items"
  if [ ! -f "$project/hifi.toml" ]; then
    say "$set: a project of $items items in $project"
    "$hifi" init "$project" --from "$data/labels.toml" >/dev/null
    sample="$project/items.csv"
    python3 - "$data/items.csv" "$sample" "$items" <<'PY'
import csv, random, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, newline="", encoding="utf-8") as fh:
    rows = list(csv.DictReader(fh))
random.Random(7).shuffle(rows)
with open(dst, "w", newline="", encoding="utf-8") as fh:
    w = csv.DictWriter(fh, fieldnames=["id", "text", "gold"])
    w.writeheader()
    for r in rows[:n]:
        w.writerow({k: r[k] for k in ("id", "text", "gold")})
PY
    # A multi-label set's gold joins its labels with "|".
    sep=()
    if grep -q '^multi_label = true' "$data/labels.toml"; then sep=(--label-sep "|"); fi
    "$hifi" -q -C "$project" import "$sample" "${sep[@]}" >/dev/null
  fi
  say "$set: prelabel and embed (resumes where it stopped)"
  "$hifi" -q -C "$project" prelabel
  "$hifi" -q -C "$project" embed
  name="$set"
  if [ -n "${HIFI_EVAL_EMBEDDER:-}" ]; then
    tag="$(basename "$HIFI_EVAL_EMBEDDER" .gguf)"
    if [ ! -f "$project-$tag/hifi.toml" ]; then
      rm -rf "$project-$tag.part"
      cp -r "$project" "$project-$tag.part"
      mv "$project-$tag.part" "$project-$tag"
    fi
    project="$project-$tag"
    name="$set-$tag"
    say "$name: embed with $HIFI_EVAL_EMBEDDER"
    "$hifi" -q -C "$project" embed --model "$HIFI_EVAL_EMBEDDER"
  fi
  say "$name: simulate $strategies at $budgets, $seeds seeds"
  "$hifi" -q -C "$project" simulate --budgets "$budgets" --strategies "$strategies" --seeds "$seeds" \
    --plot "$results/$name.svg" --force --json > "$results/$name.json"
  python3 scripts/eval-table.py "$results/$name.json" > "$results/$name.md"
  cat "$results/$name.md"
done
say "results in $results"
