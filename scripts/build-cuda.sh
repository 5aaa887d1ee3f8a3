#!/usr/bin/env bash
# Builds hifi with CUDA: llama.cpp's CUDA backend (prelabel, embed) and candle's CUDA kernels
# (LoRA training), `cargo build --release --features cuda`, for the GPU architectures in
# HIFI_CUDA_ARCHS (default 80;86;89;90: A100, A10/RTX 30xx, L4/L40/RTX 40xx, H100/H200).
#
#   scripts/build-cuda.sh                    # → target/cuda/release/hifi
#   HIFI_CUDA_ARCHS=90 scripts/build-cuda.sh # one architecture: a much shorter build
#
# The CUDA toolkit: a system one when there is one (CUDA_PATH / CUDA_HOME, nvcc on PATH, or
# /usr/local/cuda), else CUDA 13.0 from PyPI, installed once into $HIFI_CACHE/cuda-13.0.
# The driver's libcuda.so.1 (candle links it): the system's when a driver is installed, else
# Debian's libcuda1 package, unpacked into the same cache (used to link only; at run time the
# GPU box's own driver is loaded). Not part of CI: the build takes hours on 2 cores.
# docs/gpu.md says what was measured and what to expect.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${HIFI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hifi}"
archs="${HIFI_CUDA_ARCHS:-80;86;89;90}"
target_dir="${HIFI_CUDA_TARGET_DIR:-$here/target/cuda}"
jobs="${CARGO_BUILD_JOBS:-$(nproc)}"

say() { printf '[build-cuda] %s\n' "$*" >&2; }
die() { printf '[build-cuda] error: %s\n' "$*" >&2; exit 1; }

# HIFI_CUDA_ARCHS: numbers separated by ';' or ','. Every architecture gets its machine code
# (sm_XX); the newest also gets PTX, which newer GPUs than any listed compile when loading.
IFS=';,' read -r -a arch_list <<<"$archs"
[ ${#arch_list[@]} -gt 0 ] || die "HIFI_CUDA_ARCHS is empty (e.g. HIFI_CUDA_ARCHS='80;86;89;90')"
cmake_archs=""
lowest=""
for a in "${arch_list[@]}"; do
  [[ "$a" =~ ^[0-9]{2,3}$ ]] || die "HIFI_CUDA_ARCHS: '$a' is not a compute capability such as 80 or 90"
  [ "$a" -ge 75 ] || die "HIFI_CUDA_ARCHS: $a is older than Turing (75); CUDA 13 cannot build for it"
  if [ -z "$lowest" ] || [ "$a" -lt "$lowest" ]; then lowest="$a"; fi
done
last="${arch_list[${#arch_list[@]}-1]}"
for a in "${arch_list[@]}"; do
  if [ "$a" = "$last" ]; then cmake_archs+="$a;"; else cmake_archs+="$a-real;"; fi
done
cmake_archs="${cmake_archs%;}"

# What the CPU build needs too (cmake, libclang for bindgen; the default model), by its set-up.
bash "$here/scripts/setup.sh" >/dev/null

# --- the toolkit ----------------------------------------------------------------------------
system_cuda=""
for root in "${CUDA_PATH:-}" "${CUDA_HOME:-}" "$(dirname "$(dirname "$(command -v nvcc 2>/dev/null || echo /x/x/x)")")" /usr/local/cuda; do
  if [ -n "$root" ] && [ -x "$root/bin/nvcc" ]; then system_cuda="$root"; break; fi
done

# CUDA 13.0 from PyPI. 13.0, not newer: candle's kernels are PTX that the driver compiles when
# they load, and a driver only compiles PTX from toolkits as old as itself (any 13.x needs
# driver 580 or newer; 13.0's PTX needs nothing newer than that). The CUDA 12 wheels hold only
# ptxas (no nvcc), and NVIDIA's wheels ship cuBLAS as shared libraries only (no
# libcublas_static.a), so llama.cpp is built as shared libraries on this path.
pypi_pkgs=(
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cublas==13.0.2.14
  nvidia-cuda-nvrtc==13.0.88 nvidia-curand==10.4.0.35
)
pypi_root="$cache/cuda-13.0"
toolkit_from_pypi() {
  local root="$pypi_root/nvidia/cu13"
  if [ ! -x "$root/bin/nvcc" ] || [ ! -f "$pypi_root/.complete" ]; then
    say "installing CUDA 13.0 from PyPI into $pypi_root (about 700 MB)"
    rm -rf "$pypi_root" "$pypi_root.part"
    python3 -m pip install --quiet --no-deps --only-binary=:all: --target "$pypi_root.part" \
      "${pypi_pkgs[@]}" || die "pip could not install the CUDA wheels (${pypi_pkgs[*]})"
    mv "$pypi_root.part" "$pypi_root"
  fi
  # The layout a toolkit has and that nvcc.profile, CMake's FindCUDAToolkit and cudarc look
  # for: targets/x86_64-linux/{include,lib}, lib64, and unversioned .so names for the linker.
  mkdir -p "$root/targets/x86_64-linux"
  ln -sfn ../../include "$root/targets/x86_64-linux/include"
  ln -sfn ../../lib "$root/targets/x86_64-linux/lib"
  ln -sfn lib "$root/lib64"
  local so
  for so in "$root"/lib/lib*.so.*; do
    local base="${so%%.so.*}.so"
    [ -e "$base" ] || ln -s "$(basename "$so")" "$base"
  done
  touch "$pypi_root/.complete"
  echo "$root"
}

# The driver library candle links against (libcuda.so.1). A GPU box has it; on a machine
# without a driver, Debian's libcuda1 (non-free) is fetched with a private apt configuration
# (the system's sources are not touched) and unpacked, to link only.
driver_link_dir() {
  local sys
  sys="$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 .*x86-64/ {print $NF; exit}')"
  if [ -n "$sys" ]; then
    local d="$cache/cuda-driver-link"
    mkdir -p "$d"
    ln -sfn "$sys" "$d/libcuda.so"
    echo "$d"
    return
  fi
  local d="$cache/libcuda1-535"
  if [ ! -e "$d/libcuda.so" ]; then
    command -v apt-get >/dev/null 2>&1 || die "no NVIDIA driver here (no libcuda.so.1) and no apt-get to fetch Debian's libcuda1 for linking; install the driver's libcuda, or build on the GPU box"
    say "no NVIDIA driver on this machine: fetching Debian's libcuda1 535 to link against"
    local apt="$d.apt"
    rm -rf "$apt" "$d"
    mkdir -p "$apt/lists/partial" "$d"
    echo "deb http://deb.debian.org/debian bookworm non-free" >"$apt/sources.list"
    local o=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Sandbox::User=root")
    mkdir -p "$apt/cache/archives/partial"
    apt-get "${o[@]}" -qq update || die "apt-get could not read Debian's non-free package list"
    (cd "$apt" && apt-get "${o[@]}" -qq download libcuda1) || die "apt-get could not download libcuda1"
    dpkg-deb -x "$apt"/libcuda1_*.deb "$apt/x"
    local lib
    lib="$(ls "$apt"/x/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.* | head -n1)"
    cp "$lib" "$d/libcuda.so.1"
    ln -sfn libcuda.so.1 "$d/libcuda.so"
    rm -rf "$apt"
  fi
  echo "$d"
}

export CMAKE_CUDA_ARCHITECTURES="$cmake_archs"
export CUDA_COMPUTE_CAP="$lowest"   # candle's kernels: PTX for the oldest, JIT-compiled upward
rustflags=""
if [ -n "$system_cuda" ]; then
  say "CUDA toolkit: $system_cuda ($("$system_cuda/bin/nvcc" --version | tail -n1))"
  root="$system_cuda"
  shared=0
else
  root="$(toolkit_from_pypi)"
  say "CUDA toolkit: CUDA 13.0 from PyPI ($root)"
  shared=1
fi
link_dir="$(driver_link_dir)"
export CUDA_PATH="$root" CUDA_HOME="$root" CUDAToolkit_ROOT="$root" CUDACXX="$root/bin/nvcc"
export PATH="$root/bin:$PATH"
# FindCUDAToolkit looks for the driver library in lib64/stubs.
if [ ! -e "$root/lib64/stubs/libcuda.so" ] && [ -w "$root/lib64/" ]; then
  mkdir -p "$root/lib64/stubs"
  ln -sfn "$link_dir/libcuda.so" "$root/lib64/stubs/libcuda.so"
fi
rustflags+=" -L native=$link_dir"
if [ "$shared" = 1 ]; then
  # llama.cpp's libraries sit beside the binary; the CUDA libraries stay in the cache.
  export LLAMA_BUILD_SHARED_LIBS=1
  rustflags+=" -C link-arg=-Wl,-rpath,\$ORIGIN:$root/lib"
fi
export RUSTFLAGS="${RUSTFLAGS:-}$rustflags"

say "architectures: $archs (CMake: $cmake_archs; candle's PTX: compute_$lowest); $jobs jobs"
say "building into $target_dir (cargo build --release --features cuda)"
start=$(date +%s)
cd "$here"
CMAKE_BUILD_PARALLEL_LEVEL="$jobs" cargo build --release --locked --features cuda \
  --target-dir "$target_dir" --bin hifi -j "$jobs"
end=$(date +%s)
bin="$target_dir/release/hifi"
if [ "$shared" = 1 ]; then
  # llama.cpp's shared libraries beside the binary (cargo leaves only their unversioned
  # symlinks there), each finding its siblings and the CUDA libraries by its own RUNPATH: the
  # binary's RUNPATH covers only what it loads itself.
  command -v patchelf >/dev/null 2>&1 || {
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq patchelf >/dev/null
  }
  lib_dir="$(ls -td "$target_dir"/release/build/llama-cpp-sys-2-*/out/lib | head -n1)"
  cp -P "$lib_dir"/lib*.so.* "$target_dir/release/"
  for f in "$target_dir"/release/lib*.so.*.*; do
    patchelf --set-rpath "\$ORIGIN:$root/lib" "$f"
  done
fi
say "built $bin in $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s"
say "the CUDA and llama.cpp libraries it loads (ldd; libcuda.so.1 is the driver's, found on a GPU box):"
ldd "$bin" | grep -E 'cuda|cublas|nvrtc|curand|ggml|llama' >&2 || true
echo "$bin"
