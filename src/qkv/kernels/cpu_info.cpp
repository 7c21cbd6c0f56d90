#include "qkv/kernels/cpu_info.h"

#include <hwy/targets.h>

#include "qkv/core/parallel.h"

namespace qkv::kernels {

CpuInfo cpu_info() {
  CpuInfo info;
  auto targets = hwy::SupportedAndGeneratedTargets();  // best first
  info.simd_target = targets.empty() ? "none" : hwy::TargetName(targets.front());
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  info.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  info.threads = num_threads();
  return info;
}

}  // namespace qkv::kernels
