# Sourced by the scripts that install qkv's Debian 12 packages: the package lists, and
# install_missing_packages, which installs those not yet installed (as root, or through sudo).

# What the build, the CLI, the Python module and the whole test suite need.
QKV_PACKAGES=(
  build-essential cmake pkg-config
  libhwy-dev                        # SIMD with run-time dispatch
  libdnnl-dev ocl-icd-opencl-dev    # matrix products; oneDNN's CMake config asks for OpenCL (only recommended by the package)
  libgtest-dev libbenchmark-dev     # tests and micro-benchmarks
  libcli11-dev nlohmann-json3-dev   # command line; JSON (metrics, safetensors headers)
  zlib1g-dev libpng-dev libfreetype-dev fonts-wqy-zenhei fonts-dejavu-core   # gzip'd IDX, PNG pictures, text incl. CJK (DejaVu: symbols such as ᵀ)
  pybind11-dev python3-dev python3-numpy python3-pytest    # the Python module and its tests
  python3-torch                     # the test oracle and the speed peer
  libopenblas0-pthread              # PyTorch's BLAS: without it Debian's torch uses the slow reference BLAS
  libopenmpi-dev openmpi-bin        # data-parallel training across processes (mpirun -np N build/qkv train)
  dataset-fashion-mnist             # the ViT's data: /usr/share/datasets/fashion-mnist
  festlex-cmu                       # the Transformer's grapheme-to-phoneme data: /usr/share/festival/dicts/cmu
  chromium                          # the explorer pages' tests open them in headless Chromium
)

# What the ONNX Runtime comparison (bench/compare_onnxruntime.py, bench/performance_table.py)
# needs besides the above: the models are written with python3-onnx, and npm installs
# onnxruntime-node, which runs under Node.js. (nodejs and npm are installed only when no npm is on
# PATH: a Node.js from elsewhere, e.g. NodeSource's, ships its own npm and conflicts with Debian's.)
QKV_BENCH_PACKAGES=(
  python3-onnx
)
QKV_NODE_PACKAGES=(
  nodejs npm
)

# What CI's further checks need: the sanitizer build and the fuzz targets (clang's libFuzzer).
QKV_CHECK_PACKAGES=(
  clang libfuzzer-14-dev libclang-rt-14-dev
)

install_missing_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
      echo "setup: these packages are missing and installing them needs root: ${missing[*]}" >&2
      echo "setup: run this script as root, or install sudo and give this user the right to use it" >&2
      return 1
    fi
    as_root=(sudo)
  fi
  echo "setup: installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  # env, not a prefix assignment: sudo drops the caller's environment.
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
