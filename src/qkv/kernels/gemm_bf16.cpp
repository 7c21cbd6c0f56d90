#include "qkv/kernels/gemm_bf16.h"

#include <map>
#include <mutex>
#include <tuple>

#include "qkv/kernels/dnnl_run.h"

namespace qkv::kernels {
namespace {

struct Matmul {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, c;
  size_t scratchpad_bytes = 0;
};

// One primitive per shape, run with the calling thread's scratchpad (kernels/dnnl_run.h).
const Matmul& matmul_for(int64_t M, int64_t N, int64_t K) {
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, Matmul> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_tuple(M, N, K);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::memory::desc a({M, K}, dt::bf16, tag::ab), b({K, N}, dt::bf16, tag::ab), c({M, N}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), user_scratchpad_attr(), dnnl_engine());
  Matmul mm{dnnl::matmul(pd), a, b, c, pd.scratchpad_desc().get_size()};
  return cache.emplace(key, std::move(mm)).first->second;
}

}  // namespace

void gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  const Matmul& mm = matmul_for(M, N, K);
  run_primitive(mm.primitive, mm.scratchpad_bytes,
                {{DNNL_ARG_SRC, &mm.a, A}, {DNNL_ARG_WEIGHTS, &mm.b, B}, {DNNL_ARG_DST, &mm.c, C}},
                "gemm_bf16: oneDNN matmul execution failed");
}

}  // namespace qkv::kernels
