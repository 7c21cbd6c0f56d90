// What the CPU running this process offers, as the kernels see it at run time.
#pragma once

#include <string>

namespace qkv::kernels {

struct CpuInfo {
  std::string simd_target;  // Highway's best target for this CPU, e.g. "AVX3_ZEN4", "AVX2", "SSE4"
  bool avx512_bf16 = false; // vdpbf16ps / vcvtne2ps2bf16 available
  int threads = 1;          // qkv::num_threads()
};

CpuInfo cpu_info();

}  // namespace qkv::kernels
