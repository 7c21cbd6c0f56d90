#include "qkv/kernels/gemm_bf16.h"

#include <map>
#include <mutex>
#include <tuple>

#include "qkv/kernels/dnnl_run.h"

namespace qkv::kernels {
namespace {

dnnl::matmul& matmul_for(int64_t M, int64_t N, int64_t K) {
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, dnnl::matmul> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_tuple(M, N, K);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::memory::desc a({M, K}, dt::bf16, tag::ab), b({K, N}, dt::bf16, tag::ab), c({M, N}, dt::f32, tag::ab);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), dnnl_engine());
  return cache.emplace(key, dnnl::matmul(pd)).first->second;
}

}  // namespace

void gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::matmul& mm = matmul_for(M, N, K);
  dnnl::memory a({{M, K}, dt::bf16, tag::ab}, dnnl_engine(), const_cast<uint16_t*>(A));
  dnnl::memory b({{K, N}, dt::bf16, tag::ab}, dnnl_engine(), const_cast<uint16_t*>(B));
  dnnl::memory c({{M, N}, dt::f32, tag::ab}, dnnl_engine(), C);
  dnnl::stream s(dnnl_engine());
  mm.execute(s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
  s.wait();
}

}  // namespace qkv::kernels
