#!/usr/bin/env bash
# Installs qkv's Debian dependencies (when missing) and builds everything into build/.
# Usage: scripts/setup.sh            (Release build with the CLI, library, Python module, tests)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  libhwy-dev libdnnl-dev            # SIMD with run-time dispatch; matrix products
  libgtest-dev libbenchmark-dev     # tests and micro-benchmarks
  libcli11-dev nlohmann-json3-dev   # command line; JSON (metrics, safetensors headers)
  zlib1g-dev libpng-dev libfreetype-dev fonts-wqy-zenhei fonts-dejavu-core   # gzip'd IDX, PNG pictures, text incl. CJK (DejaVu: symbols such as ᵀ)
  pybind11-dev python3-dev python3-numpy python3-pytest    # the Python module and its tests
  python3-torch                     # the test oracle and the speed peer
  libopenblas0-pthread              # PyTorch's BLAS: without it Debian's torch uses the slow reference BLAS
  dataset-fashion-mnist             # the ViT's data: /usr/share/datasets/fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
