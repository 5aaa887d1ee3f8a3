#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, and run hifi on sample-data/ with the default
# model (prelabel → embed → mine → a budget simulation → the review workstation). The project lands in ./demo-project (re-runs resume).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
# The dev profile builds llama.cpp and every dependency with opt-level 3 (see Cargo.toml).
# `--tests` resolves features exactly as scripts/test.sh does, so the two share one build of
# llama.cpp (a plain `cargo build` resolves them differently and compiles it a second time).
cargo build --tests --locked
hifi=target/debug/hifi
project="${HIFI_DEMO_PROJECT:-demo-project}"
if [ ! -f "$project/hifi.toml" ]; then
  "$hifi" init "$project" --from sample-data/labels.toml
  "$hifi" --project "$project" import sample-data/ads.csv
fi
"$hifi" --project "$project" prelabel
"$hifi" --project "$project" embed
"$hifi" --project "$project" mine --budget 200
# The sample ads carry gold labels: plan a label budget with an oracle (seconds).
"$hifi" --project "$project" simulate --budgets 50,100,200,400 --strategies adaptive,pairs,margin,random
if [ -t 0 ] && [ -t 1 ]; then
  exec "$hifi" --project "$project" review
fi
"$hifi" --project "$project" status
echo "(no terminal: open the workstation with: $hifi --project $project review)"
