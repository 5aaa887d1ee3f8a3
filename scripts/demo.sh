#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, and run hifi on sample-data/ with the default
# model (prelabel → embed → status). The project lands in ./demo-project (re-runs resume).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
# The dev profile builds llama.cpp and every dependency with opt-level 3 (see Cargo.toml) and
# shares its build with scripts/test.sh, so the slow llama.cpp compile happens once.
cargo build --locked
hifi=target/debug/hifi
project="${HIFI_DEMO_PROJECT:-demo-project}"
if [ ! -f "$project/hifi.toml" ]; then
  "$hifi" init "$project" --from sample-data/labels.toml
  "$hifi" --project "$project" import sample-data/ads.csv
fi
"$hifi" --project "$project" prelabel
"$hifi" --project "$project" embed
"$hifi" --project "$project" status
