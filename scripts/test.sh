#!/usr/bin/env bash
# Run every test on a fresh machine: install what the build needs, fetch the test model, test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --test-server >/dev/null
cargo test --locked "$@"
